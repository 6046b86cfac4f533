"""Web pages for connections: a tenant's connections page, the "Connect Xero" redirect flow, and the forms that
connect the API-key providers. Thin: each view checks who is asking and calls one service."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from connections import selectors, services
from connections.checks import connection_test as check
from connections.models import Connection
from connections.providers.base import AuthKind
from connections.providers.registry import PROVIDERS, UnknownProviderError, provider_get
from connections.providers.xero import flow
from connections.providers.xero.oauth import default_transport
from connections.providers.xero.reference import xero_reference_refresh_connection, xero_reference_summary
from core.errors import ApplicationError, NotFoundError
from tenants.access import principal_for_user
from tenants.scoping import tenant_scope
from tenants.selectors import tenant_get

STATUS_STYLE = {
    Connection.Status.ACTIVE: "ok",
    Connection.Status.PENDING: "warn",
    Connection.Status.NEEDS_REAUTH: "bad",
    Connection.Status.DISCONNECTED: "",
}


def _principal(request):
    principal = principal_for_user(request.user, agency_id=request.session.get("agency_id"))
    if principal is None:
        raise Http404("No agency.")
    return principal


def page_tenant(request, tenant_id):
    """(principal, tenant) if the signed-in user may see the tenant; another agency's tenant is a 404 like a missing
    one. Every tenant web page (connections, reconciliation) checks access through this."""
    principal = _principal(request)
    try:
        return principal, tenant_get(principal=principal, tenant_id=tenant_id)
    except NotFoundError:
        raise Http404("Tenant not found.") from None


def _admin_tenant(request, tenant_id):
    principal, tenant = page_tenant(request, tenant_id)
    if not principal.is_admin:
        messages.error(request, "Only agency owners and admins can connect or change systems.")
        return principal, tenant, False
    return principal, tenant, True


def _connection(tenant, pk) -> Connection:
    try:
        return selectors.connection_get(tenant=tenant, id=pk)
    except NotFoundError:
        raise Http404("Connection not found.") from None


def _page(tenant):
    return redirect("connections:tenant", tenant_id=tenant.pk)


class ProviderForm(forms.Form):
    """The account and credential fields a provider declares; secrets are password inputs, never redisplayed."""

    display_name = forms.CharField(max_length=200, label="Name")

    def __init__(self, *args, provider, **kwargs):
        super().__init__(*args, **kwargs)
        self.provider = provider
        for spec in provider.account_fields:
            self.fields[f"account__{spec.name}"] = forms.CharField(
                label=spec.label, required=spec.required, help_text=spec.help_text, max_length=500
            )
        for spec in provider.credential_fields:
            self.fields[f"credentials__{spec.name}"] = forms.CharField(
                label=spec.label,
                required=spec.required,
                help_text=spec.help_text,
                max_length=2000,
                widget=forms.PasswordInput(render_value=False),
            )

    def values(self, prefix: str) -> dict[str, str]:
        return {
            name.split("__", 1)[1]: value
            for name, value in self.cleaned_data.items()
            if name.startswith(prefix + "__") and value
        }


def _credential_providers():
    return [p for p in PROVIDERS if p.connectable_with_credentials and p.auth_kind != AuthKind.INBOUND_ONLY]


@login_required
@require_GET
def tenant_connections(request, tenant_id):
    """A tenant's connections with status and last activity, and the ways to connect more."""
    principal, tenant = page_tenant(request, tenant_id)
    with tenant_scope(tenant):
        connections = list(selectors.connection_list(tenant=tenant))
        rows = []
        for connection in connections:
            try:
                name = provider_get(connection.provider).name
            except UnknownProviderError:
                name = connection.provider
            summary = xero_reference_summary(connection=connection) if connection.provider == "xero" else None
            rows.append(
                {
                    "connection": connection,
                    "provider_name": name,
                    "style": STATUS_STYLE.get(connection.status, ""),
                    "reference": summary,
                }
            )
    live_xero = [c for c in connections if c.provider == "xero" and c.status != Connection.Status.DISCONNECTED]
    forms_by_provider = [
        (provider, ProviderForm(provider=provider, prefix=provider.id)) for provider in _credential_providers()
    ]
    return render(
        request,
        "connections/tenant.html",
        {
            "principal": principal,
            "tenant": tenant,
            "rows": rows,
            "can_manage": principal.is_admin,
            "xero_connected": any(c.status == Connection.Status.ACTIVE for c in live_xero),
            "xero_needs_reauth": any(c.status == Connection.Status.NEEDS_REAUTH for c in live_xero),
            "provider_forms": forms_by_provider,
        },
    )


@login_required
@require_POST
def xero_connect(request, tenant_id):
    """Start "Connect Xero": remember state and PKCE verifier in the session, send the user to Xero."""
    principal, tenant, allowed = _admin_tenant(request, tenant_id)
    if not allowed:
        return _page(tenant)
    return redirect(flow.xero_authorization_start(session=request.session, tenant=tenant))


def _flow_error(request, exc: flow.XeroFlowError, tenant_id=None):
    return render(
        request,
        "connections/xero_error.html",
        {"title": exc.title, "message": exc.message, "code": exc.code, "tenant_id": tenant_id},
        status=400,
    )


@login_required
@require_GET
def xero_callback(request):
    """Xero sends the user back here: check state, exchange the code, list organisations to choose from."""
    started = request.session.get(flow.START_KEY) or {}
    try:
        pending = flow.xero_callback_complete(
            session=request.session, params=request.GET, transport=default_transport()
        )
    except flow.XeroFlowError as exc:
        return _flow_error(request, exc, tenant_id=started.get("tenant_id"))
    return redirect("connections:xero_choose", tenant_id=pending.tenant_id)


@login_required
def xero_choose(request, tenant_id):
    """Pick which of the authorised organisations this tenant syncs with (asked even when there is one)."""
    principal, tenant, allowed = _admin_tenant(request, tenant_id)
    if not allowed:
        return _page(tenant)
    pending = flow.xero_pending_consent(session=request.session)
    if pending is None or pending.tenant_id != tenant.pk:
        messages.error(request, "There is no Xero sign-in waiting for this tenant. Start again with “Connect Xero”.")
        return _page(tenant)
    if request.method == "POST":
        try:
            connection, counts = flow.xero_connection_attach(
                session=request.session,
                tenant=tenant,
                xero_tenant_id=request.POST.get("xero_tenant_id", ""),
                actor=principal.label,
                transport=default_transport(),
            )
        except flow.XeroFlowError as exc:
            if exc.code == "invalid":
                messages.error(request, exc.message)
                return redirect("connections:xero_choose", tenant_id=tenant.pk)
            return _flow_error(request, exc, tenant_id=tenant.pk)
        if counts is None:
            messages.warning(
                request,
                f"{connection.display_name} is connected, but its tax rates and accounts could not be read yet. "
                "Use “Refresh Xero settings” in a moment.",
            )
        else:
            messages.success(
                request,
                f"{connection.display_name} is connected: {counts['tax_rates']} tax rates, {counts['accounts']} "
                f"accounts and {counts['tracking_categories']} tracking categories read from Xero.",
            )
        return _page(tenant)
    return render(request, "connections/xero_choose.html", {"tenant": tenant, "organisations": pending.organisations})


@login_required
@require_POST
def connection_add(request, tenant_id, provider_id):
    """Connect an API-key provider (Magento, Cin7 Core, Gorgias) from its form."""
    principal, tenant, allowed = _admin_tenant(request, tenant_id)
    if not allowed:
        return _page(tenant)
    provider = next((p for p in _credential_providers() if p.id == provider_id), None)
    if provider is None:
        raise Http404("No such provider.")
    form = ProviderForm(request.POST, provider=provider, prefix=provider.id)
    if form.is_valid():
        try:
            with tenant_scope(tenant):
                connection = services.connection_create(
                    tenant=tenant,
                    provider_id=provider.id,
                    display_name=form.cleaned_data["display_name"],
                    credentials=form.values("credentials"),
                    account=form.values("account"),
                    actor=principal.label,
                )
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"{connection.display_name} is connected. Use “Test connection” to check it.")
            return _page(tenant)
    else:
        problems = "; ".join(
            f"{form.fields[name].label}: {' '.join(errors)}" if name in form.fields else " ".join(errors)
            for name, errors in form.errors.items()
        )
        messages.error(request, f"{provider.name} was not connected. {problems}")
    return _page(tenant)


@login_required
@require_POST
def connection_test(request, tenant_id, pk):
    """Run the provider's connection check and say what it found."""
    principal, tenant, allowed = _admin_tenant(request, tenant_id)
    if not allowed:
        return _page(tenant)
    with tenant_scope(tenant):
        connection = _connection(tenant, pk)
        result = connection_check(connection=connection)
    (messages.success if result["ok"] else messages.error)(request, f"{connection.display_name}: {result['message']}")
    return _page(tenant)


def connection_check(*, connection: Connection) -> dict:
    """{"ok", "message"} for "Test connection" (the page and the API share it). Needs the tenant's scope."""
    try:
        result = check(connection=connection, transport=default_transport())
    except ApplicationError as exc:
        return {"ok": False, "message": exc.message}
    return {"ok": bool(result.ok), "message": str(result.message)}


@login_required
@require_POST
def connection_refresh_reference(request, tenant_id, pk):
    """Read the tenant's Xero settings again (tax rates, accounts, tracking, currencies)."""
    principal, tenant, allowed = _admin_tenant(request, tenant_id)
    if not allowed:
        return _page(tenant)
    with tenant_scope(tenant):
        connection = _connection(tenant, pk)
        try:
            counts = xero_reference_refresh_connection(connection=connection)
        except ApplicationError as exc:
            messages.error(request, f"{connection.display_name}: {exc.message}")
        else:
            messages.success(
                request,
                f"{connection.display_name}: {counts['tax_rates']} tax rates, {counts['accounts']} accounts, "
                f"{counts['tracking_categories']} tracking categories, {counts['currencies']} currencies.",
            )
    return _page(tenant)


@login_required
@require_POST
def connection_disconnect(request, tenant_id, pk):
    """Disconnect: revoke at the provider where it can, erase the stored secrets."""
    principal, tenant, allowed = _admin_tenant(request, tenant_id)
    if not allowed:
        return _page(tenant)
    with tenant_scope(tenant):
        connection = _connection(tenant, pk)
        services.connection_disconnect(
            connection=connection, reason=f"Disconnected by {principal.label}.", actor=principal.label
        )
    messages.success(request, f"{connection.display_name} is disconnected.")
    return _page(tenant)
