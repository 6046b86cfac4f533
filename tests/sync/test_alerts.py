"""Alerts reach the tenant's admins: the first failure at once, then digests every 30 minutes at most."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone
from django_q.models import OrmQ

from sync.models import Alert, SyncJob, WebhookStats
from sync.services.alerts import failures_alert, webhook_silence_alert
from sync.services.drain import drain_run
from sync.tasks import drain_alerts_task
from tenants.scoping import tenant_scope
from tests.factories import ConnectionFactory, SyncJobFactory
from tests.sync.engine_helpers import World, payloads_refusing_invoice, simple_payloads

pytestmark = pytest.mark.django_db


def _fail(tenant, cause, n=1):
    for _ in range(n):
        SyncJobFactory(tenant=tenant, state=SyncJob.State.NEEDS_ATTENTION, cause=cause)


def test_the_first_failure_is_reported_at_once_and_later_ones_are_digested(world):
    with tenant_scope(world.tenant_a1):
        _fail(world.tenant_a1, "Tax key 'rate:10' of Magento store 'demo' is not mapped to a Xero tax rate")
        first = failures_alert(tenant=world.tenant_a1)
        assert first.kind == Alert.Kind.FIRST_FAILURE
        assert mail.outbox[0].to == ["owner-a@example.com"]
        assert "rate:10" in mail.outbox[0].body and "A One" in mail.outbox[0].subject

        # More failures within 30 minutes: no new email.
        _fail(world.tenant_a1, "The currency code 'NZD' is not enabled for this organisation.", n=3)
        assert failures_alert(tenant=world.tenant_a1) is None
        assert len(mail.outbox) == 1

        # Thirty minutes later one digest counts what happened since, grouped by cause.
        Alert.objects.filter(pk=first.pk).update(created_at=timezone.now() - timedelta(minutes=31))
        SyncJob.objects.update(updated_at=timezone.now())
        digest = failures_alert(tenant=world.tenant_a1)
        assert digest.kind == Alert.Kind.FAILURE_DIGEST
        assert digest.counts["total"] == 4
        assert "3 × The currency code 'NZD'" in mail.outbox[1].body
        assert Alert.objects.count() == 2


def test_one_tenants_failures_never_reach_another_tenants_email(world):
    with tenant_scope(world.tenant_b1):
        _fail(world.tenant_b1, "Something only B has")
    with tenant_scope(world.tenant_a1):
        _fail(world.tenant_a1, "Something only A has")
        failures_alert(tenant=world.tenant_a1)
    assert len(mail.outbox) == 1
    assert "only B" not in mail.outbox[0].body and mail.outbox[0].to == ["owner-a@example.com"]


def test_nothing_to_report_sends_nothing(world):
    with tenant_scope(world.tenant_a1):
        assert failures_alert(tenant=world.tenant_a1) is None
    assert mail.outbox == []


def _queued_alerts():
    return [
        tuple(q.task["args"]) for q in OrmQ.objects.order_by("id") if q.task["func"] == "sync.tasks.drain_alerts_task"
    ]


def test_a_drain_that_holds_a_record_hands_the_first_failure_alert_to_a_task(world):
    """The drain sends no email itself (an SMTP server's wait would hold its lease): it queues the alert at once,
    for its own tenant only, and the task tells that tenant's admins."""
    with tenant_scope(world.tenant_b1):
        b = World(world.tenant_b1, name="Beta", store="beta", orders=2)
        b.stage_orders()
        drain_run(xero_connection=b.xero, payload_builder=simple_payloads, client_factory=b.client_factory())
    with tenant_scope(world.tenant_a1):
        a = World(world.tenant_a1, name="Alpha", store="alpha", orders=2)
        a.stage_orders()
        report = drain_run(
            xero_connection=a.xero, payload_builder=payloads_refusing_invoice(0), client_factory=a.client_factory()
        )
    assert report.needs_attention == 1
    assert mail.outbox == []
    # Beta's clean run queued nothing; Alpha's queued one alert about failures, none about the day limit.
    assert _queued_alerts() == [(a.xero.pk, world.tenant_a1.pk, True, False)]

    assert drain_alerts_task(*_queued_alerts()[0]) == 1
    assert [m.to for m in mail.outbox] == [["owner-a@example.com"]]
    assert "999" in mail.outbox[0].body
    with tenant_scope(world.tenant_a1):
        assert Alert.objects.filter(kind=Alert.Kind.FIRST_FAILURE).count() == 1
    with tenant_scope(world.tenant_b1):
        assert not Alert.objects.exists()


def test_the_drain_alert_task_reports_a_day_limit_park_once(world):
    with tenant_scope(world.tenant_a1):
        xero = ConnectionFactory(tenant=world.tenant_a1, provider="xero", display_name="Xero main")
        xero.day_limit_reset_at = timezone.now() + timedelta(hours=3)
        xero.save(update_fields=["day_limit_reset_at"])
    assert drain_alerts_task(xero.pk, world.tenant_a1.pk, False, True) == 1
    assert drain_alerts_task(xero.pk, world.tenant_a1.pk, False, True) == 0
    assert len(mail.outbox) == 1 and "daily limit" in mail.outbox[0].subject


def test_a_webhook_source_gone_quiet_is_reported_once(world):
    with tenant_scope(world.tenant_a1):
        connection = ConnectionFactory(tenant=world.tenant_a1, provider="cin7", display_name="Cin7 main")
        now = timezone.now()
        stats = WebhookStats.objects.create(
            tenant=world.tenant_a1, connection=connection, received=100, last_received_at=now - timedelta(hours=30)
        )
        # Usually one delivery every ~15 minutes over a day before it went quiet.
        WebhookStats.objects.filter(pk=stats.pk).update(created_at=now - timedelta(hours=30 + 25))
        stats.refresh_from_db()
        assert webhook_silence_alert(stats=stats, now=now).kind == Alert.Kind.WEBHOOK_SILENT
        assert "Cin7 main" in mail.outbox[0].body
        assert webhook_silence_alert(stats=stats, now=now) is None
        # A busy source quiet for an hour is not "silent".
        stats.last_received_at = now - timedelta(hours=1)
        assert webhook_silence_alert(stats=stats, now=now) is None


def test_the_schedules_register_every_recurring_task_once(db):
    from django_q.models import Schedule

    from sync.schedules import SCHEDULES, schedules_ensure

    schedules_ensure()
    schedules_ensure()
    assert Schedule.objects.count() == len(SCHEDULES)
    for _, func, _ in SCHEDULES:
        module, _, name = func.rpartition(".")
        assert callable(getattr(__import__(module, fromlist=[name]), name)), func
