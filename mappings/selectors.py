"""Reads for mappings. Tenant first, always; they need the tenant's scope."""

from connections.models import Connection
from core.errors import NotFoundError
from mappings.models import SourceValue

XERO = "xero"
LIVE = (Connection.Status.ACTIVE, Connection.Status.NEEDS_REAUTH, Connection.Status.PENDING)


def xero_connection_for(*, tenant) -> Connection | None:
    """The tenant's Xero organisation: the one its mappings are chosen from and checked against."""
    return (
        Connection.objects.filter(tenant=tenant, provider=XERO, status__in=LIVE)
        .order_by("-status_changed_at", "-id")
        .first()
    )


def source_connections(*, tenant):
    """The tenant's live connections to source systems (everything but Xero)."""
    return (
        Connection.objects.filter(tenant=tenant, status__in=LIVE).exclude(provider=XERO).order_by("display_name", "id")
    )


def source_connection_get(*, tenant, id) -> Connection:
    try:
        return source_connections(tenant=tenant).get(pk=int(id))
    except (Connection.DoesNotExist, ValueError, TypeError) as exc:
        raise NotFoundError("Source connection not found.") from exc


def source_value_list(*, tenant, source_connection=None, kind: str | None = None):
    values = SourceValue.objects.filter(tenant=tenant)
    if source_connection is not None:
        values = values.filter(source_connection=source_connection)
    if kind:
        values = values.filter(kind=kind)
    return values.order_by("kind", "value", "currency")
