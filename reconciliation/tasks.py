"""django-q2 entry points: load the tenant, enter its scope, call one service."""

from tenants.models import Tenant
from tenants.scoping import tenant_scope


def reconciliation_run_task(run_id: int, tenant_id: int) -> str:
    """Carry out a requested (pending) run and act on what it found; returns the run's status."""
    from reconciliation.models import ReconciliationRun
    from reconciliation.services.requests import reconciliation_perform

    tenant = Tenant.objects.get(pk=tenant_id)
    with tenant_scope(tenant):
        run = reconciliation_perform(run=ReconciliationRun.objects.get(pk=run_id))
    return run.status


def reconciliations_due_task() -> int:
    """Every 15 minutes: queue a run for each tenant whose local reconciliation time has come."""
    from reconciliation.services.schedule import reconciliations_schedule_due

    return reconciliations_schedule_due()
