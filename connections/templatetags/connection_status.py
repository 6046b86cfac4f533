"""The home page's Xero and Sources columns, read from each tenant's connections."""

from django import template

from connections.models import Connection
from tenants.scoping import tenant_scope

register = template.Library()

STYLE = {
    Connection.Status.ACTIVE: "ok",
    Connection.Status.PENDING: "warn",
    Connection.Status.NEEDS_REAUTH: "bad",
}


@register.simple_tag
def tenant_connection_status(tenant) -> dict:
    """{"xero": {label, style} | None, "sources": {label, style} | None} for one tenant's live connections."""
    with tenant_scope(tenant):
        rows = list(
            Connection.objects.filter(tenant=tenant)
            .exclude(status=Connection.Status.DISCONNECTED)
            .values_list("provider", "status", "display_name")
        )
    xero = next(((status, name) for provider, status, name in rows if provider == "xero"), None)
    sources = [status for provider, status, _ in rows if provider != "xero"]
    summary = {"xero": None, "sources": None}
    if xero is not None:
        status, name = xero
        label = name if status == Connection.Status.ACTIVE else f"{name}: {Connection.Status(status).label.lower()}"
        summary["xero"] = {"label": label, "style": STYLE.get(status, "")}
    if sources:
        attention = sum(1 for status in sources if status != Connection.Status.ACTIVE)
        if attention:
            summary["sources"] = {"label": f"{attention} of {len(sources)} need attention", "style": "bad"}
        else:
            summary["sources"] = {"label": f"{len(sources)} connected", "style": "ok"}
    return summary
