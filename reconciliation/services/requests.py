"""Asking for a reconciliation: check the period, queue the run, and what happens once the engine has compared."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.db import transaction
from django.utils import timezone

from core.errors import ApplicationError
from reconciliation.models import ReconciliationRun
from sync.services.staging import xero_connection_of
from tenants.models import Tenant
from tenants.services import activity_record

MAX_PERIOD_DAYS = 366


def tenant_today(*, tenant: Tenant, now: datetime | None = None) -> date:
    """Today's date where the tenant is (its books are kept in its own calendar)."""
    return (now or timezone.now()).astimezone(ZoneInfo(tenant.timezone)).date()


def _period_error(message: str, field: str) -> ApplicationError:
    return ApplicationError(message, code="invalid", extra={"fields": {field: [message]}})


def reconciliation_period_validate(*, tenant: Tenant, period_start: date, period_end: date, now=None) -> None:
    """Refuse a period that ends before it starts, reaches into the future (the tenant's today), or is too long."""
    if period_start > period_end:
        raise _period_error("The period must start on or before its end.", "period_start")
    today = tenant_today(tenant=tenant, now=now)
    if period_end > today:
        raise _period_error(
            f"The period cannot end after today ({today.isoformat()} in {tenant.timezone}).", "period_end"
        )
    days = (period_end - period_start).days + 1
    if days > MAX_PERIOD_DAYS:
        raise _period_error(f"The period is {days} days long; at most {MAX_PERIOD_DAYS} days at a time.", "period_end")


def default_period(*, tenant: Tenant, lookback_days: int, now=None) -> tuple[date, date]:
    """The `lookback_days` days up to and including the tenant's today."""
    today = tenant_today(tenant=tenant, now=now)
    return today - timedelta(days=max(lookback_days, 1) - 1), today


def reconciliation_request(
    *,
    tenant: Tenant,
    period_start: date,
    period_end: date,
    actor: str,
    requested_by=None,
    trigger: str = ReconciliationRun.Trigger.MANUAL,
    now: datetime | None = None,
) -> tuple[ReconciliationRun, str]:
    """Record the run as pending and queue its execution (a task on the long-running "sync" cluster); returns the
    run, whose id people follow, and the task id.

    The period is checked and the tenant must have an active Xero connection, so a request that cannot run is
    refused now with a clear error instead of failing later in the queue. The run row and the queued task commit
    together (the ORM broker). Needs the tenant's scope.
    """
    from django_q.tasks import async_task

    reconciliation_period_validate(tenant=tenant, period_start=period_start, period_end=period_end, now=now)
    xero = xero_connection_of(tenant_id=tenant.pk)
    with transaction.atomic():
        run = ReconciliationRun.objects.create(
            tenant=tenant,
            xero_connection=xero,
            trigger=trigger,
            requested_by=requested_by,
            period_start=period_start,
            period_end=period_end,
            status=ReconciliationRun.Status.PENDING,
            started_at=now or timezone.now(),
        )
        task_id = async_task(
            "reconciliation.tasks.reconciliation_run_task",
            run.pk,
            tenant.pk,
            cluster="sync",
            task_name=f"reconcile-{tenant.pk}-run-{run.pk}",
        )
        if trigger == ReconciliationRun.Trigger.MANUAL:
            activity_record(
                tenant=tenant,
                actor=actor,
                action="reconciliation.requested",
                subject=f"reconciliation {period_start.isoformat()}–{period_end.isoformat()}",
            )
    return run, task_id


def reconciliation_perform(*, run: ReconciliationRun, transport=None) -> ReconciliationRun:
    """Carry out a requested run (the engine), then act on what happened: carry earlier acceptances over,
    auto-heal records missing in Xero when the policy says so, and email the admins when something needs action
    or when a scheduled run failed.

    `transport` reaches the sources and Xero (tests pass the sandbox's). Needs the tenant's scope.
    """
    from reconciliation.selectors import policy_get
    from reconciliation.services import reconciliation_run_execute
    from reconciliation.services.actions import mismatches_auto_heal, mismatches_carry_accepted
    from reconciliation.services.alerts import reconciliation_alert, reconciliation_failure_alert

    run = reconciliation_run_execute(run=run, transport=transport)
    if run.status == ReconciliationRun.Status.FAILED:
        reconciliation_failure_alert(run=run)
        return run
    if run.status != ReconciliationRun.Status.DONE:
        return run
    mismatches_carry_accepted(run=run)
    if policy_get(tenant=run.tenant).auto_heal_missing:
        mismatches_auto_heal(run=run, transport=transport)
    reconciliation_alert(run=run)
    return run
