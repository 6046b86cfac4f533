"""django-q2 entry points: load the tenant, enter its scope, call one service."""

from datetime import date

from tenants.models import Tenant
from tenants.scoping import tenant_scope


def reconciliation_run_task(
    tenant_id: int, period_start: str, period_end: str, trigger: str, requested_by_id: int | None = None
) -> int:
    """Compare one tenant for a period and act on what was found; returns the run's id."""
    from reconciliation.services.requests import reconciliation_perform
    from tenants.models import User

    tenant = Tenant.objects.get(pk=tenant_id)
    requested_by = User.objects.filter(pk=requested_by_id).first() if requested_by_id else None
    with tenant_scope(tenant):
        run = reconciliation_perform(
            tenant=tenant,
            period_start=date.fromisoformat(period_start),
            period_end=date.fromisoformat(period_end),
            trigger=trigger,
            requested_by=requested_by,
        )
    return run.pk


def reconciliations_due_task() -> int:
    """Every 15 minutes: queue a run for each tenant whose local reconciliation time has come."""
    from reconciliation.services.schedule import reconciliations_schedule_due

    return reconciliations_schedule_due()
