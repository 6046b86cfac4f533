"""identity.xero.com and login.xero.com: consent, token, revocation; api.xero.com/connections."""

import base64
import binascii
from urllib.parse import urlencode

from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from sandbox.xero import errors
from sandbox.xero.models import Organisation, XeroApp
from sandbox.xero.services.auth import (
    AccessDenied,
    OAuthError,
    access_token_resolve,
    authorization_code_issue,
    client_authenticate,
    connection_delete,
    scope_unknown,
    token_exchange_code,
    token_refresh,
    token_revoke,
)
from sandbox.xero.wire import iso_datetime_string, json_response


def _redirect(uri: str, **params) -> HttpResponseRedirect:
    separator = "&" if "?" in uri else "?"
    return HttpResponseRedirect(uri + separator + urlencode({k: v for k, v in params.items() if v is not None}))


def _error_page(message: str, status: int = 400) -> HttpResponse:
    # Xero shows an error page (never redirects) when the client or redirect URI cannot be trusted.
    return HttpResponse(f"<!doctype html><title>Xero</title><h1>Error</h1><p>{message}</p>", status=status)


@csrf_exempt
@require_http_methods(["GET", "POST"])
def authorize(request):
    """The consent page: pick organisations, allow or deny; redirects back with code & state or an error."""
    params = request.GET if request.method == "GET" else request.POST
    app = XeroApp.objects.filter(client_id=params.get("client_id", "")).first()
    if app is None:
        return _error_page("unauthorized_client: unknown client_id")
    redirect_uri = params.get("redirect_uri", "")
    if redirect_uri not in app.redirect_uris:
        return _error_page("invalid redirect_uri: it is not registered for this app")
    state = params.get("state")
    if params.get("response_type") != "code":
        return _redirect(redirect_uri, error="unsupported_response_type", state=state)
    scope = " ".join(params.get("scope", "").split())
    if not scope or scope_unknown(scope):
        return _redirect(redirect_uri, error="invalid_scope", state=state)
    challenge = params.get("code_challenge", "")
    method = params.get("code_challenge_method", "")
    if challenge and method != "S256":
        return _redirect(redirect_uri, error="invalid_request", error_description="code_challenge_method", state=state)
    organisations = list(Organisation.objects.order_by("name"))
    if request.method == "GET":
        return render(
            request,
            "sandbox_xero/consent.html",
            {"app": app, "organisations": organisations, "params": params.items(), "scopes": scope.split()},
        )
    if params.get("decision") != "allow":
        return _redirect(redirect_uri, error="access_denied", state=state)
    chosen = [o for o in organisations if str(o.tenant_id) in request.POST.getlist("tenant")]
    if not chosen:
        return _redirect(redirect_uri, error="access_denied", state=state)
    code = authorization_code_issue(
        app=app, organisations=chosen, redirect_uri=redirect_uri, scope=scope, code_challenge=challenge
    )
    return _redirect(redirect_uri, code=code, scope=scope, state=state, session_state="sandbox")


def _client_credentials(request) -> tuple[str, str | None, bool]:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(header[6:].strip()).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise OAuthError("invalid_client") from None
        client_id, _, secret = decoded.partition(":")
        return client_id, secret, True
    secret = request.POST.get("client_secret")
    return request.POST.get("client_id", ""), secret, secret is not None


@csrf_exempt
@require_http_methods(["POST"])
def token(request):
    """authorization_code and refresh_token grants; client auth by HTTP Basic or form fields."""
    try:
        client_id, secret, secret_sent = _client_credentials(request)
        app = client_authenticate(client_id=client_id, client_secret=secret)
        grant_type = request.POST.get("grant_type")
        if grant_type == "authorization_code":
            tokens = token_exchange_code(
                app=app,
                code=request.POST.get("code", ""),
                redirect_uri=request.POST.get("redirect_uri", ""),
                code_verifier=request.POST.get("code_verifier"),
                secret_sent=secret_sent,
            )
        elif grant_type == "refresh_token":
            if not secret_sent:
                raise OAuthError("invalid_client")
            tokens = token_refresh(app=app, refresh_token=request.POST.get("refresh_token", ""))
        else:
            raise OAuthError("unsupported_grant_type")
    except OAuthError as exc:
        return errors.oauth_error(exc.error, exc.status)
    return json_response(tokens.as_response(), headers={"Cache-Control": "no-store"})


@csrf_exempt
@require_http_methods(["POST"])
def revocation(request):
    try:
        client_id, secret, secret_sent = _client_credentials(request)
        if not secret_sent:
            raise OAuthError("invalid_client")
        app = client_authenticate(client_id=client_id, client_secret=secret)
    except OAuthError as exc:
        return errors.oauth_error(exc.error, exc.status)
    token_revoke(app=app, token=request.POST.get("token", ""))
    return HttpResponse(status=200)


def _connection(c) -> dict:
    return {
        "id": str(c.id),
        "authEventId": str(c.auth_event_id),
        "tenantId": str(c.organisation.tenant_id),
        "tenantType": "ORGANISATION",
        "tenantName": c.organisation.name,
        "createdDateUtc": iso_datetime_string(c.created_at) + ".0000000",
        "updatedDateUtc": iso_datetime_string(c.updated_at) + ".0000000",
    }


@csrf_exempt
@require_http_methods(["GET"])
def connections(request):
    """GET /connections: the organisations this token may call (optionally for one authEventId)."""
    try:
        grant = access_token_resolve(authorization=request.headers.get("Authorization"))
    except AccessDenied as exc:
        return errors.unauthorized(exc.detail, expired=exc.expired)
    rows = grant.connections.filter(deleted_at__isnull=True).select_related("organisation").order_by("created_at")
    auth_event = request.GET.get("authEventId")
    if auth_event:
        rows = rows.filter(auth_event_id=auth_event)
    return json_response([_connection(c) for c in rows])


@csrf_exempt
@require_http_methods(["DELETE"])
def connection_detail(request, connection_id):
    try:
        grant = access_token_resolve(authorization=request.headers.get("Authorization"))
    except AccessDenied as exc:
        return errors.unauthorized(exc.detail, expired=exc.expired)
    if not connection_delete(grant=grant, connection_id=connection_id):
        return errors.not_found()
    return HttpResponse(status=204)
