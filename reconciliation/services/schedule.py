"""Scheduled reconciliation: each tenant at its own local time (daily or weekly), one queued run per tenant.

Tenants without a policy are reconciled daily at the policy defaults (03:00 local), as DESIGN.md promises a daily
comparison; a policy set to "off" runs on demand only.
"""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.utils import timezone

from connections.models import Connection
from core.errors import ApplicationError
from reconciliation.models import ReconciliationPolicy, ReconciliationRun
from reconciliation.services.requests import default_period, reconciliation_request
from tenants.models import Tenant
from tenants.scoping import all_tenants, tenant_scope

Frequency = ReconciliationPolicy.Frequency


def _local_time(value) -> time:
    return value if isinstance(value, time) else time.fromisoformat(str(value))


def policy_due_at(*, policy: ReconciliationPolicy, tenant: Tenant, now: datetime) -> datetime | None:
    """The latest scheduled moment at or before `now` (UTC), or None when the policy is off.

    The moment is the local wall-clock time on the local date, so it follows daylight saving: 03:00 in Sydney is
    16:00 UTC in winter and 17:00 UTC in summer. A wall-clock time skipped by a spring-forward is taken as the
    same distance past the jump (zoneinfo's fold=0), a repeated one as its first occurrence.
    """
    if policy.frequency == Frequency.OFF:
        return None
    zone = ZoneInfo(tenant.timezone)
    local_now = now.astimezone(zone)
    day = local_now.date()
    at = _local_time(policy.local_time)
    step = timedelta(days=1)
    if policy.frequency == Frequency.WEEKLY:
        day -= timedelta(days=(day.weekday() - policy.weekday) % 7)
        step = timedelta(days=7)
    due = datetime.combine(day, at, tzinfo=zone)
    if due > local_now:
        due = datetime.combine(day - step, at, tzinfo=zone)
    return due.astimezone(ZoneInfo("UTC"))


def reconciliations_schedule_due(*, now: datetime | None = None) -> int:
    """Queue a run for every tenant whose scheduled time has passed since its last scheduled run; returns how many.

    Only active tenants with an active Xero connection are considered. Each tenant's policy row is claimed with a
    conditional update before its run is queued, so overlapping schedulers never queue a tenant twice.
    """
    now = now or timezone.now()
    # The scheduler looks across tenants for who is due; each run is queued in its own tenant's scope.
    with all_tenants():
        xero_tenants = Connection.objects.filter(provider="xero", status=Connection.Status.ACTIVE).values("tenant_id")
        tenants = list(Tenant.objects.filter(is_active=True, pk__in=xero_tenants).order_by("id"))
    queued = 0
    for tenant in tenants:
        with tenant_scope(tenant):
            policy, _ = ReconciliationPolicy.objects.get_or_create(tenant=tenant)
            due = policy_due_at(policy=policy, tenant=tenant, now=now)
            last = policy.last_scheduled_run_at
            if due is None or (last is not None and last >= due):
                continue
            claimed = ReconciliationPolicy.objects.filter(pk=policy.pk, last_scheduled_run_at=last).update(
                last_scheduled_run_at=now
            )
            if not claimed:
                continue
            period_start, period_end = default_period(tenant=tenant, lookback_days=policy.lookback_days, now=now)
            try:
                reconciliation_request(
                    tenant=tenant,
                    period_start=period_start,
                    period_end=period_end,
                    actor="system",
                    trigger=ReconciliationRun.Trigger.SCHEDULED,
                    now=now,
                )
            except ApplicationError:
                # Nothing to compare with right now (say Xero was disconnected a moment ago): next slot retries.
                continue
            queued += 1
    return queued
