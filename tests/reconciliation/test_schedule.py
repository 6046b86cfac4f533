"""Each tenant is reconciled at its own local time, daily or weekly, through daylight saving changes."""

from datetime import UTC, datetime, time

import pytest

from reconciliation.models import ReconciliationPolicy, ReconciliationRun
from reconciliation.services.schedule import policy_due_at, reconciliations_schedule_due
from tenants.models import Tenant
from tenants.scoping import tenant_scope
from tests.factories import ConnectionFactory, ReconciliationPolicyFactory
from tests.reconciliation.surfaces import queued_tasks

pytestmark = pytest.mark.django_db
Frequency = ReconciliationPolicy.Frequency


def _utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def _tenant_with_policy(tenant, zone: str, **policy):
    Tenant.objects.filter(pk=tenant.pk).update(timezone=zone)
    tenant.refresh_from_db()
    with tenant_scope(tenant):
        ConnectionFactory(tenant=tenant, provider="xero")
        return ReconciliationPolicyFactory(tenant=tenant, **policy)


def test_two_tenants_in_different_timezones_run_at_their_own_local_time(world):
    sydney = _tenant_with_policy(
        world.tenant_a1, "Australia/Sydney", local_time=time(3, 0), last_scheduled_run_at=_utc(2026, 7, 13, 17, 2)
    )
    new_york = _tenant_with_policy(
        world.tenant_b1, "America/New_York", local_time=time(3, 0), last_scheduled_run_at=_utc(2026, 7, 14, 7, 1)
    )
    # 14 Jul 16:55 UTC: 02:55 on the 15th in Sydney, 12:55 on the 14th in New York. Nobody is due.
    assert reconciliations_schedule_due(now=_utc(2026, 7, 14, 16, 55)) == 0
    # 17:05 UTC is 03:05 in Sydney: its run is queued, over the 35 days up to its local today; New York ran at 03:00
    # its time (07:00 UTC) already.
    now = _utc(2026, 7, 14, 17, 5)
    assert reconciliations_schedule_due(now=now) == 1
    with tenant_scope(world.tenant_a1):
        run = ReconciliationRun.objects.get()
    assert (run.status, run.trigger, run.period_start.isoformat(), run.period_end.isoformat()) == (
        "pending",
        "scheduled",
        "2026-06-11",
        "2026-07-15",
    )
    assert queued_tasks() == [("reconciliation.tasks.reconciliation_run_task", (run.pk, world.tenant_a1.pk))]
    # The next check in 15 minutes finds Sydney already done.
    assert reconciliations_schedule_due(now=_utc(2026, 7, 14, 17, 20)) == 0
    # New York's next 03:00 is 07:00 UTC on the 15th.
    assert reconciliations_schedule_due(now=_utc(2026, 7, 15, 7, 5)) == 1
    assert queued_tasks()[-1][1][1] == world.tenant_b1.pk
    with tenant_scope(world.tenant_a1):
        sydney.refresh_from_db()
        assert sydney.last_scheduled_run_at == now
    with tenant_scope(world.tenant_b1):
        new_york.refresh_from_db()
        assert new_york.last_scheduled_run_at == _utc(2026, 7, 15, 7, 5)


def test_the_local_time_follows_daylight_saving():
    sydney = Tenant(timezone="Australia/Sydney")
    policy = ReconciliationPolicy(frequency=Frequency.DAILY, local_time=time(3, 0))
    # Winter (AEST, +10) and summer (AEDT, +11): 03:00 local is 17:00 and 16:00 UTC the day before.
    assert policy_due_at(policy=policy, tenant=sydney, now=_utc(2026, 7, 1, 12)) == _utc(2026, 6, 30, 17)
    assert policy_due_at(policy=policy, tenant=sydney, now=_utc(2026, 12, 1, 12)) == _utc(2026, 11, 30, 16)
    # 02:30 does not exist on 4 Oct 2026 in Sydney (02:00 jumps to 03:00): it still runs that day, once.
    skipped = ReconciliationPolicy(frequency=Frequency.DAILY, local_time=time(2, 30))
    assert policy_due_at(policy=skipped, tenant=sydney, now=_utc(2026, 10, 3, 18)) == _utc(2026, 10, 3, 16, 30)


def test_a_repeated_hour_runs_once_when_the_clocks_go_back(world):
    _tenant_with_policy(
        world.tenant_a1, "America/New_York", local_time=time(1, 30), last_scheduled_run_at=_utc(2026, 10, 31, 5, 31)
    )
    # 1 Nov 2026: 01:30 EDT (05:30 UTC), then the clocks go back and 01:30 EST (06:30 UTC) comes again.
    assert reconciliations_schedule_due(now=_utc(2026, 11, 1, 5, 45)) == 1
    assert reconciliations_schedule_due(now=_utc(2026, 11, 1, 6, 45)) == 0
    assert len(queued_tasks()) == 1


def test_weekly_off_and_tenants_without_xero(world):
    weekly = _tenant_with_policy(world.tenant_a1, "UTC", frequency=Frequency.WEEKLY, weekday=0, local_time=time(3))
    _tenant_with_policy(world.tenant_a2, "UTC", frequency=Frequency.OFF)
    # Wednesday 18 Nov 2026: the weekly slot was Monday 16 Nov 03:00.
    assert policy_due_at(policy=weekly, tenant=world.tenant_a1, now=_utc(2026, 11, 18, 9)) == _utc(2026, 11, 16, 3)
    assert policy_due_at(policy=weekly, tenant=world.tenant_a1, now=_utc(2026, 11, 16, 2)) == _utc(2026, 11, 9, 3)
    # B One has no Xero connection, B Two's tenant is inactive: neither is queued. A Two is off.
    with tenant_scope(world.tenant_b2):
        ConnectionFactory(tenant=world.tenant_b2, provider="xero")
    Tenant.objects.filter(pk=world.tenant_b2.pk).update(is_active=False)
    assert reconciliations_schedule_due(now=_utc(2026, 11, 18, 9)) == 1
    assert [args[1] for _, args in queued_tasks()] == [world.tenant_a1.pk]


def test_a_tenant_without_a_policy_runs_daily_at_the_defaults(world):
    with tenant_scope(world.tenant_a1):
        ConnectionFactory(tenant=world.tenant_a1, provider="xero")
    # Sydney: 03:00 local on 20 Nov 2026 is 16:00 UTC on the 19th.
    assert reconciliations_schedule_due(now=_utc(2026, 11, 19, 15, 50)) == 1  # the 19th's 03:00 has passed
    assert reconciliations_schedule_due(now=_utc(2026, 11, 19, 16, 5)) == 1  # and the 20th's now too
    assert reconciliations_schedule_due(now=_utc(2026, 11, 19, 16, 20)) == 0
    with tenant_scope(world.tenant_a1):
        assert ReconciliationPolicy.objects.get().frequency == Frequency.DAILY
