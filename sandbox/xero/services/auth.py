"""OAuth 2.0 as Xero runs it: authorization codes with PKCE, 30-minute access tokens, rotating refresh tokens."""

import base64
import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.db import connection as db
from django.db import transaction
from django.utils import timezone

from sandbox.xero.models import (
    AccessToken,
    AuthorizationCode,
    Connection,
    Grant,
    Organisation,
    RefreshToken,
    XeroApp,
)

ACCESS_TOKEN_LIFETIME = timedelta(minutes=30)
REFRESH_GRACE = timedelta(minutes=30)
REFRESH_UNUSED_LIFETIME = timedelta(days=60)
CODE_LIFETIME = timedelta(minutes=5)

_SCOPE_FAMILIES = (
    "accounting.transactions",
    "accounting.contacts",
    "accounting.settings",
    "accounting.attachments",
    "accounting.invoices",
    "accounting.payments",
    "accounting.banktransactions",
    "accounting.manualjournals",
)
KNOWN_SCOPES = frozenset(
    {"openid", "profile", "email", "offline_access", "accounting.journals.read", "accounting.reports.read"}
    | set(_SCOPE_FAMILIES)
    | {f"{family}.read" for family in _SCOPE_FAMILIES}
)


class OAuthError(Exception):
    """An OAuth error answer: {"error": code} with its HTTP status."""

    def __init__(self, error: str, status: int = 400):
        super().__init__(error)
        self.error = error
        self.status = status


@dataclass(frozen=True)
class TokenSet:
    access_token: str
    refresh_token: str | None
    expires_in: int
    scope: str
    grant: Grant

    def as_response(self) -> dict:
        body = {
            "access_token": self.access_token,
            "expires_in": self.expires_in,
            "token_type": "Bearer",
            "scope": self.scope,
        }
        if self.refresh_token:
            body["refresh_token"] = self.refresh_token
        return body


def _token() -> str:
    return secrets.token_urlsafe(40)


def scope_unknown(scope: str) -> list[str]:
    return [part for part in scope.split() if part not in KNOWN_SCOPES]


def app_ensure(
    *,
    name: str,
    redirect_uris: list[str] | None = None,
    webhook_url: str | None = None,
    client_id: str | None = None,
    client_secret: str | None = None,
    webhook_key: str | None = None,
) -> XeroApp:
    """Get or register the developer app called `name`; adds redirect URIs and sets the webhook URL if given.

    `client_id`, `client_secret` and `webhook_key` pin the app's credentials (the development app whose values are
    the product's development defaults); left out, a new app gets random ones and an existing app keeps its own.
    """
    fixed = {"client_id": client_id, "client_secret": client_secret, "webhook_key": webhook_key}
    fixed = {field: value for field, value in fixed.items() if value}
    app = XeroApp.objects.filter(name=name).first()
    if app is None:
        app = XeroApp.objects.create(
            name=name,
            **{
                "client_id": secrets.token_hex(16).upper(),
                "client_secret": secrets.token_urlsafe(36),
                "webhook_key": base64.b64encode(secrets.token_bytes(48)).decode(),
                **fixed,
            },
        )
    changed = False
    for field, value in fixed.items():
        if getattr(app, field) != value:
            setattr(app, field, value)
            changed = True
    for uri in redirect_uris or []:
        if uri not in app.redirect_uris:
            app.redirect_uris.append(uri)
            changed = True
    if webhook_url is not None and webhook_url != app.webhook_url:
        # A new URL must pass intent-to-receive again before events flow.
        app.webhook_url, app.webhook_enabled = webhook_url, False
        changed = True
    if changed:
        app.save()
    return app


def pkce_challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def authorization_code_issue(
    *, app: XeroApp, organisations: list[Organisation], redirect_uri: str, scope: str, code_challenge: str = ""
) -> str:
    """Record the user's consent for `organisations` and return the one-time code for the redirect."""
    record = AuthorizationCode.objects.create(
        code=secrets.token_urlsafe(32),
        app=app,
        redirect_uri=redirect_uri,
        scope=scope,
        code_challenge=code_challenge,
        expires_at=timezone.now() + CODE_LIFETIME,
    )
    record.organisations.set(organisations)
    return record.code


def token_set_issue(*, app: XeroApp, organisations: list[Organisation], scope: str) -> TokenSet:
    """Create a grant (one consent) connecting `organisations`, and issue its first token set."""
    now = timezone.now()
    with transaction.atomic():
        grant = Grant.objects.create(app=app, scope=scope)
        for organisation in organisations:
            Connection.objects.create(
                grant=grant,
                organisation=organisation,
                auth_event_id=grant.auth_event_id,
                created_at=now,
                updated_at=now,
            )
        return _issue(grant=grant, now=now)


def _issue(*, grant: Grant, now, refresh: RefreshToken | None = None) -> TokenSet:
    access = AccessToken.objects.create(token=_token(), grant=grant, expires_at=now + ACCESS_TOKEN_LIFETIME)
    if refresh is None and "offline_access" in grant.scope.split():
        refresh = RefreshToken.objects.create(token=_token(), grant=grant, issued_at=now)
    return TokenSet(
        access_token=access.token,
        refresh_token=refresh.token if refresh else None,
        expires_in=int(ACCESS_TOKEN_LIFETIME.total_seconds()),
        scope=grant.scope,
        grant=grant,
    )


def client_authenticate(*, client_id: str, client_secret: str | None) -> XeroApp:
    """The app behind the credentials; a public (PKCE) client sends no secret."""
    app = XeroApp.objects.filter(client_id=client_id).first()
    if app is None:
        raise OAuthError("invalid_client")
    if client_secret is not None and not secrets.compare_digest(client_secret, app.client_secret):
        raise OAuthError("invalid_client")
    return app


def token_exchange_code(
    *, app: XeroApp, code: str, redirect_uri: str, code_verifier: str | None, secret_sent: bool
) -> TokenSet:
    """authorization_code grant: single-use codes, exact redirect_uri, PKCE S256 verifier when a challenge was set."""
    now = timezone.now()
    with transaction.atomic():
        record = AuthorizationCode.objects.select_for_update().filter(code=code, app=app).first()
        if record is None or record.used_at is not None or record.expires_at <= now:
            raise OAuthError("invalid_grant")
        # The code is spent whatever happens next, as a real authorization server does.
        record.used_at = now
        record.save(update_fields=["used_at"])
        if record.redirect_uri != redirect_uri:
            raise OAuthError("invalid_grant")
        if record.code_challenge:
            if not code_verifier or not secrets.compare_digest(pkce_challenge(code_verifier), record.code_challenge):
                raise OAuthError("invalid_grant")
        elif not secret_sent:
            raise OAuthError("invalid_client")
        token_set = token_set_issue(app=app, organisations=list(record.organisations.all()), scope=record.scope)
        record.grant = token_set.grant
        record.save(update_fields=["grant"])
        return token_set


def token_refresh(*, app: XeroApp, refresh_token: str) -> TokenSet:
    """refresh_token grant. The token rotates; the old one keeps working for 30 minutes (same successor returned)."""
    now = timezone.now()
    with transaction.atomic():
        record = (
            RefreshToken.objects.select_for_update(of=("self",))
            .select_related("grant", "successor")
            .filter(token=refresh_token, grant__app=app)
            .first()
        )
        if record is None or record.revoked_at is not None or record.grant.revoked_at is not None:
            raise OAuthError("invalid_grant")
        if record.issued_at + REFRESH_UNUSED_LIFETIME <= now:
            raise OAuthError("invalid_grant")
        if record.rotated_at is not None:
            if record.rotated_at + REFRESH_GRACE <= now or record.successor is None:
                raise OAuthError("invalid_grant")
            return _issue(grant=record.grant, now=now, refresh=record.successor)
        successor = RefreshToken.objects.create(token=_token(), grant=record.grant, issued_at=now)
        record.rotated_at, record.successor = now, successor
        record.save(update_fields=["rotated_at", "successor"])
        return _issue(grant=record.grant, now=now, refresh=successor)


def token_revoke(*, app: XeroApp, token: str) -> None:
    """Revoke a refresh token: the whole grant goes, with all of its connections and access tokens."""
    now = timezone.now()
    record = RefreshToken.objects.filter(token=token, grant__app=app).select_related("grant").first()
    if record is None:
        return  # RFC 7009: an unknown token is not an error
    grant = record.grant
    with transaction.atomic():
        grant.revoked_at = now
        grant.save(update_fields=["revoked_at"])
        grant.refresh_tokens.filter(revoked_at__isnull=True).update(revoked_at=now)
        grant.access_tokens.all().delete()
        grant.connections.filter(deleted_at__isnull=True).update(deleted_at=now, updated_at=now)


class AccessDenied(Exception):  # noqa: N818
    def __init__(self, detail: str, *, expired: bool = False):
        super().__init__(detail)
        self.detail = detail
        self.expired = expired


def access_token_resolve(*, authorization: str | None) -> Grant:
    """The grant behind a Bearer header, or AccessDenied (401) for a missing, unknown or expired token."""
    if not authorization or not authorization.lower().startswith("bearer "):
        raise AccessDenied("AuthenticationUnsuccessful")
    token = authorization[7:].strip()
    record = AccessToken.objects.select_related("grant", "grant__app").filter(token=token).first()
    if record is None or record.grant.revoked_at is not None:
        raise AccessDenied("AuthenticationUnsuccessful")
    if record.expires_at <= timezone.now():
        stamp = record.expires_at.strftime("%m/%d/%Y %H:%M:%S")
        raise AccessDenied(f"TokenExpired: token expired at {stamp}", expired=True)
    return record.grant


def api_access_resolve(*, authorization: str | None, tenant_id) -> tuple[Grant, Organisation | None]:
    """What an api.xro call needs from its headers, in one query: the grant behind the Bearer header (with its app)
    and the organisation `tenant_id` names if the grant is connected to it (else None; `tenant_id` may be None).

    Refuses a missing, unknown, revoked or expired token exactly as access_token_resolve does. Nothing is cached:
    a token revoked or a connection deleted a moment ago fails on the next call.
    """
    if not authorization or not authorization.lower().startswith("bearer "):
        raise AccessDenied("AuthenticationUnsuccessful")
    token = authorization[7:].strip()
    tenant_param = None
    if tenant_id is not None:
        tenant_param = Organisation._meta.get_field("tenant_id").get_db_prep_value(tenant_id, db)
    with db.cursor() as cursor:
        cursor.execute(_api_access_sql(), [tenant_param, token])
        row = cursor.fetchone()
    if row is None:
        raise AccessDenied("AuthenticationUnsuccessful")
    expires_at = row[0]
    grant, app, org = (_from_row(model, row, start) for model, start in _api_access_layout())
    grant._state.fields_cache["app"] = app
    if grant.revoked_at is not None:
        raise AccessDenied("AuthenticationUnsuccessful")
    if expires_at <= timezone.now():
        stamp = expires_at.strftime("%m/%d/%Y %H:%M:%S")
        raise AccessDenied(f"TokenExpired: token expired at {stamp}", expired=True)
    return grant, org


def _api_access_layout() -> list[tuple[type, int]]:
    """Where each model's columns start in a row of _api_access_sql (after the token's expiry)."""
    layout, start = [], 1
    for model in (Grant, XeroApp, Organisation):
        layout.append((model, start))
        start += len(model._meta.concrete_fields)
    return layout


def _from_row(model, row: tuple, start: int):
    """An instance of `model` from its columns in `row` (None when they are all NULL: an outer join found none),
    converted as the ORM converts what it reads."""
    fields = model._meta.concrete_fields
    values = row[start : start + len(fields)]
    if values[0] is None:
        return None
    converted = []
    for field, value in zip(fields, values, strict=True):
        # What the ORM's compiler applies to a column: the backend's converters, then the field's.
        col = field.get_col(model._meta.db_table)
        for converter in [*db.ops.get_db_converters(col), *col.get_db_converters(db)]:
            value = converter(value, col, db)
        converted.append(value)
    return model.from_db(db.alias, [f.attname for f in fields], converted)


_API_ACCESS_SQL: dict[str, str] = {}


def _api_access_sql() -> str:
    """The token with its grant and app, and the organisation of the grant's live connection to a tenant id."""
    if db.vendor not in _API_ACCESS_SQL:
        quote = db.ops.quote_name

        def columns(model, alias):
            return ", ".join(f"{alias}.{quote(f.column)}" for f in model._meta.concrete_fields)

        def table(model):
            return quote(model._meta.db_table)

        _API_ACCESS_SQL[db.vendor] = (
            f"SELECT t.{quote('expires_at')}, {columns(Grant, 'g')}, {columns(XeroApp, 'a')}, "  # noqa: S608 - only model metadata is formatted in
            f"{columns(Organisation, 'o')} "
            f"FROM {table(AccessToken)} t "
            f"JOIN {table(Grant)} g ON g.{quote('id')} = t.{quote('grant_id')} "
            f"JOIN {table(XeroApp)} a ON a.{quote('id')} = g.{quote('app_id')} "
            f"LEFT JOIN {table(Organisation)} o ON o.{quote('tenant_id')} = %s AND EXISTS ("
            f"SELECT 1 FROM {table(Connection)} c WHERE c.{quote('grant_id')} = g.{quote('id')} "
            f"AND c.{quote('organisation_id')} = o.{quote('id')} AND c.{quote('deleted_at')} IS NULL) "
            f"WHERE t.{quote('token')} = %s"
        )
    return _API_ACCESS_SQL[db.vendor]


def connection_delete(*, grant: Grant, connection_id) -> bool:
    """DELETE /connections/{id}: disconnect one organisation from the grant."""
    now = timezone.now()
    return bool(grant.connections.filter(id=connection_id, deleted_at__isnull=True).update(deleted_at=now))
