"""django-q2 entry points: load a row by id, enter its tenant's scope, call one service."""

from tenants.models import Tenant
from tenants.scoping import tenant_scope


def inbound_event_process_task(event_id: int, tenant_id: int) -> None:
    from sync.services.processing import inbound_event_process

    with tenant_scope(Tenant.objects.get(pk=tenant_id)):
        inbound_event_process(event_id=event_id)
