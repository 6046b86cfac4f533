"""Reads for connections. Tenant first, always; they need the tenant's scope (the API view holds it)."""

from connections.models import Connection, ConnectionDailyUsage
from core.errors import NotFoundError
from tenants.models import Tenant


def connection_list(*, tenant: Tenant):
    """The tenant's connections, by name."""
    return Connection.objects.filter(tenant=tenant).order_by("display_name", "id")


def connection_get(*, tenant: Tenant, id) -> Connection:
    """One of the tenant's connections; another tenant's is a 404, exactly like a missing one."""
    try:
        return Connection.objects.get(tenant=tenant, pk=int(id))
    except (Connection.DoesNotExist, ValueError, TypeError) as exc:
        raise NotFoundError("Connection not found.") from exc


def connection_usage_list(*, tenant: Tenant, connection: Connection):
    """Calls per UTC day through `connection`, newest first."""
    return ConnectionDailyUsage.objects.filter(tenant=tenant, connection=connection).order_by("-day")
