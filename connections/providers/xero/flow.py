"""The "Connect Xero" redirect flow across requests: start, callback, choose an organisation, attach.

State lives in the user's server-side session, never in a URL: the state and PKCE verifier between start and
callback, then the new token set (encrypted with the credentials keys) and the organisations it may call until
the user picks one. Each step is single-use, so a replayed callback or a second "Attach" does nothing.
"""

import json
import time
from dataclasses import dataclass

from cryptography.fernet import InvalidToken
from django.conf import settings
from django.db import IntegrityError, transaction

from connections import crypto
from connections.models import Connection
from connections.providers.xero import oauth
from connections.providers.xero.reference import xero_reference_refresh
from connections.providers.xero.tokens import xero_client_for
from connections.services import connection_create, connection_set_credentials
from core.errors import ApplicationError, ProviderAuthError, RetryableError
from tenants.models import Tenant
from tenants.scoping import tenant_scope

START_KEY = "xero_oauth_start"
CONSENT_KEY = "xero_oauth_consent"
# A user who wanders off at Xero's consent page or on our "choose" page starts again after this long.
START_LIFETIME_SECONDS = 15 * 60
CONSENT_LIFETIME_SECONDS = 15 * 60


class XeroFlowError(ApplicationError):
    """The flow cannot go on; `title` and `message` are shown to the user, and nothing was stored."""

    code = "xero_connect_failed"

    def __init__(self, title: str, message: str, *, code: str | None = None):
        super().__init__(message, code=code)
        self.title = title


@dataclass(frozen=True)
class PendingConsent:
    tenant_id: int
    organisations: list[dict]


def xero_authorization_start(*, session, tenant: Tenant) -> str:
    """Remember a fresh state and PKCE verifier for `tenant` in the session; returns Xero's authorization URL."""
    request = oauth.authorization_request_build()
    session[START_KEY] = {
        "state": request.state,
        "code_verifier": request.code_verifier,
        "redirect_uri": request.redirect_uri,
        "tenant_id": tenant.pk,
        "started_at": int(time.time()),
    }
    session.pop(CONSENT_KEY, None)
    return request.url


def _encrypt(value) -> str:
    return crypto.multifernet().encrypt(json.dumps(value).encode()).decode()


def _decrypt(token: str, *, ttl: int):
    try:
        return json.loads(crypto.multifernet().decrypt(token.encode(), ttl=ttl))
    except InvalidToken:
        return None


def xero_callback_complete(*, session, params, transport=None) -> PendingConsent:
    """Check the callback against the session, exchange the code, and list the organisations to choose from.

    Raises XeroFlowError for a denied consent, a missing or foreign state, an expired start, or a code Xero
    refuses (reused, expired); the session's pending start is kept on a state mismatch (a forged callback must
    not cancel the real one) and consumed otherwise.
    """
    started = session.get(START_KEY)
    state = params.get("state") or ""
    if not started or not state or state != started.get("state"):
        raise XeroFlowError(
            "This Xero sign-in does not match one we started",
            "The link back from Xero is missing its security check, was already used, or belongs to another browser "
            "session. Nothing was changed. Start again with “Connect Xero” on the tenant's connections page.",
            code="xero_state_mismatch",
        )
    del session[START_KEY]
    if params.get("error"):
        error = params.get("error")
        if error == "access_denied":
            raise XeroFlowError(
                "Xero access was not granted",
                "The connection was cancelled at Xero (or no organisation was selected). Nothing was changed.",
                code="xero_access_denied",
            )
        raise XeroFlowError(
            "Xero refused the sign-in",
            f"Xero answered “{error[:100]}”. Nothing was changed. Try again, and check the app's Xero settings "
            "(scopes, redirect URI) if it keeps happening.",
            code="xero_authorize_error",
        )
    if time.time() - started.get("started_at", 0) > START_LIFETIME_SECONDS:
        raise XeroFlowError(
            "This Xero sign-in took too long", "Nothing was changed. Start again with “Connect Xero”.", code="expired"
        )
    code = params.get("code") or ""
    if not code:
        raise XeroFlowError("Xero sent no sign-in code", "Nothing was changed. Start again with “Connect Xero”.")
    try:
        credentials = oauth.authorization_code_exchange(
            code=code,
            code_verifier=started["code_verifier"],
            redirect_uri=started["redirect_uri"],
            transport=transport,
        )
        organisations = oauth.organisations_list(access_token=credentials["access_token"], transport=transport)
    except oauth.XeroGrantRefusedError:
        raise XeroFlowError(
            "Xero did not accept this sign-in code",
            "The code was already used or has expired (refreshing the page after connecting does this). "
            "Nothing was changed. Start again with “Connect Xero”.",
            code="xero_code_refused",
        ) from None
    except (ProviderAuthError, RetryableError) as exc:
        raise XeroFlowError(
            "Xero could not complete the sign-in", f"{exc.message} Nothing was changed. Please try again."
        ) from None
    if not organisations:
        raise XeroFlowError(
            "No Xero organisation was authorised",
            "Xero signed you in but gave access to no organisation. Start again and tick the organisation to connect.",
            code="xero_no_organisation",
        )
    listed = [
        {"tenantId": o["tenantId"], "tenantName": o.get("tenantName") or o["tenantId"], "id": o.get("id", "")}
        for o in organisations
    ]
    session[CONSENT_KEY] = {
        "tenant_id": started["tenant_id"],
        "organisations": listed,
        "tokens": _encrypt(credentials),
    }
    return PendingConsent(tenant_id=started["tenant_id"], organisations=listed)


def xero_pending_consent(*, session) -> PendingConsent | None:
    pending = session.get(CONSENT_KEY)
    if not pending:
        return None
    return PendingConsent(tenant_id=pending["tenant_id"], organisations=pending["organisations"])


def xero_connection_attach(
    *, session, tenant: Tenant, xero_tenant_id: str, actor: str, transport=None
) -> tuple[Connection, dict[str, int] | None]:
    """Attach the organisation the user chose to `tenant` with the pending token set, then cache reference data.

    A live connection to the same organisation is re-authorised in place (needs_reauth → active); a tenant
    already connected to another organisation is refused. Returns the connection and the reference counts (None
    when Xero could not be read: the connection stays active, and the counts can be refreshed later).
    """
    pending = session.get(CONSENT_KEY)
    if not pending or pending.get("tenant_id") != tenant.pk:
        raise XeroFlowError("Nothing to attach", "This Xero sign-in is finished or expired. Start again.")
    organisation = next((o for o in pending["organisations"] if o["tenantId"] == xero_tenant_id), None)
    if organisation is None:
        raise XeroFlowError("Choose an organisation", "Pick one of the organisations Xero listed.", code="invalid")
    credentials = _decrypt(pending["tokens"], ttl=CONSENT_LIFETIME_SECONDS)
    # Single use: whatever happens next, these tokens are not offered again.
    del session[CONSENT_KEY]
    if credentials is None:
        raise XeroFlowError("This Xero sign-in expired", "Nothing was changed. Start again with “Connect Xero”.")
    credentials = {**credentials, "xero_connection_id": organisation.get("id") or ""}
    credentials = {k: v for k, v in credentials.items() if v}
    with tenant_scope(tenant), transaction.atomic():
        live = Connection.objects.filter(tenant=tenant, provider="xero").exclude(status=Connection.Status.DISCONNECTED)
        other = live.exclude(external_account_id=xero_tenant_id).first()
        if other is not None:
            raise XeroFlowError(
                "This tenant already has a Xero organisation",
                f"{tenant.name} is connected to {other.display_name}. Disconnect it before connecting another.",
                code="already_connected",
            )
        connection = live.filter(external_account_id=xero_tenant_id).first()
        if connection is not None:
            connection_set_credentials(connection=connection, credentials=credentials, actor=actor)
            Connection.objects.filter(pk=connection.pk).update(base_url=settings.XERO_API_URL)
        else:
            connection = connection_create(
                tenant=tenant,
                provider_id="xero",
                display_name=organisation["tenantName"][:200],
                credentials=credentials,
                actor=actor,
            )
            try:
                with transaction.atomic():
                    Connection.objects.filter(pk=connection.pk).update(
                        external_account_id=xero_tenant_id, base_url=settings.XERO_API_URL
                    )
            except IntegrityError:
                raise XeroFlowError(
                    "Already connected", f"{organisation['tenantName']} is already connected to {tenant.name}."
                ) from None
        connection.refresh_from_db()
    # Reference data is read after the commit, outside any transaction, so the rate limiter's slots are shared.
    try:
        with tenant_scope(tenant), xero_client_for(connection, transport=transport) as client:
            counts = xero_reference_refresh(connection=connection, client=client)
    except (ProviderAuthError, RetryableError, ApplicationError):
        counts = None
    return connection, counts
