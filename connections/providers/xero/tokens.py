"""Xero tokens per connection: single-flight refresh, the client factory everyone uses, revocation, and the
proactive refresh of idle token sets.

Xero rotates the refresh token on every use, and a token set refreshed in two places at once loses the
connection (research/platform.md §4). So a refresh happens only with the connection's row locked
(`SELECT … FOR UPDATE`): the worker holding the lock re-reads the credentials, uses a sibling's fresh token if one
landed while it waited, otherwise calls the token endpoint and stores the new set before anyone uses it. The
database is the only place a token set lives; nothing is cached across clients.
"""

import logging
import time
from datetime import timedelta

from django.conf import settings
from django.db import OperationalError, transaction
from django.db import connection as db_connection
from django.utils import timezone

from connections import crypto
from connections.models import Connection
from connections.providers.xero import oauth
from connections.providers.xero.client import XeroClient
from connections.services import connection_mark_needs_reauth
from core.errors import ProviderAuthError, RetryableError
from tenants.scoping import all_tenants, tenant_scope

logger = logging.getLogger("connections.xero")

Status = Connection.Status


def _read(connection: Connection) -> tuple[Connection, crypto.Credentials]:
    with tenant_scope(connection.tenant_id):
        row = Connection.objects.get(pk=connection.pk)
    return row, crypto.credentials_read(row)


def _seconds_left(credentials, *, now: float | None = None) -> float | None:
    """Seconds until the access token expires; None when the expiry is unknown."""
    try:
        expires_at = int(credentials["expires_at"])
    except (KeyError, TypeError, ValueError):
        return None
    return expires_at - (time.time() if now is None else now)


def _usable(credentials) -> bool:
    """The stored access token can be sent now (an unknown expiry counts as usable: a 401 forces a refresh)."""
    if not credentials.get("access_token"):
        return False
    left = _seconds_left(credentials)
    return left is None or left > settings.XERO_TOKEN_REFRESH_MARGIN_SECONDS


def _refuse_unless_live(row: Connection, credentials) -> None:
    if row.status == Status.DISCONNECTED:
        raise ProviderAuthError(f"{row.display_name} is disconnected.", code="connection_disconnected")
    if row.status == Status.NEEDS_REAUTH:
        raise ProviderAuthError(f"{row.display_name} needs to be reconnected to Xero.", code="connection_needs_reauth")
    if not credentials.get("access_token") and not credentials.get("refresh_token"):
        raise ProviderAuthError(f"{row.display_name} has no Xero tokens; connect it first.", code="no_credentials")


def _exchange_with_retries(refresh_token: str, *, transport, sleep) -> dict[str, str]:
    """Call the token endpoint; a network failure retries the SAME refresh token (Xero honours it for 30 min)."""
    attempts = max(1, settings.XERO_REFRESH_ATTEMPTS)
    for attempt in range(1, attempts + 1):
        try:
            return oauth.refresh_token_exchange(refresh_token=refresh_token, transport=transport)
        except RetryableError:
            if attempt == attempts:
                raise
            sleep(min(4.0, 0.5 * 2 ** (attempt - 1)))
    raise AssertionError("unreachable")


def _lock_timeout() -> None:
    # Waiting on a sibling's refresh is normal; waiting forever on a stuck transaction is not.
    if db_connection.vendor == "postgresql":
        with db_connection.cursor() as cursor:
            cursor.execute(
                "SELECT set_config('lock_timeout', %s, true)", [f"{settings.XERO_REFRESH_LOCK_TIMEOUT_SECONDS}s"]
            )


def xero_token_refresh(
    *,
    connection: Connection,
    rejected_token: str | None = None,
    transport=None,
    mark_needs_reauth: bool = True,
    sleep=time.sleep,
) -> str:
    """Refresh the connection's tokens single-flight and return a usable access token.

    `rejected_token` is the access token Xero just refused (or the stale one the caller saw): a stored token
    that differs from it and is still valid was put there by a sibling, and is used instead of refreshing again.
    On `invalid_grant` the row is re-read without the lock: a changed refresh token means a sibling won and its
    token is used; otherwise the connection is marked needs_reauth (the admins get one email) unless
    `mark_needs_reauth` is False, and XeroGrantRefusedError is raised.
    """
    used_refresh_token = None
    try:
        with tenant_scope(connection.tenant_id), transaction.atomic():
            _lock_timeout()
            try:
                row = Connection.objects.select_for_update().get(pk=connection.pk)
            except OperationalError as exc:
                raise RetryableError(
                    "Another worker is still refreshing this Xero connection.", code="xero_refresh_busy", retry_after=5
                ) from exc
            credentials = crypto.credentials_read(row)
            _refuse_unless_live(row, credentials)
            if _usable(credentials) and credentials.get("access_token") != rejected_token:
                connection.credentials_ciphertext = row.credentials_ciphertext
                return credentials["access_token"]
            used_refresh_token = credentials.get("refresh_token")
            if not used_refresh_token:
                raise oauth.XeroGrantRefusedError("No refresh token is stored for this Xero connection.")
            fresh = _exchange_with_retries(used_refresh_token, transport=transport, sleep=sleep)
            # Keep what is not part of the token set (the Xero connection id).
            stored = {**credentials, **fresh}
            # Persisted before anyone uses the new access token: a lost new refresh token is a lost connection.
            row.credentials_ciphertext = crypto.encrypt_for(row, purpose=crypto.PURPOSE_CREDENTIALS, value=stored)
            row.save(update_fields=["credentials_ciphertext", "updated_at"])
            connection.credentials_ciphertext = row.credentials_ciphertext
            logger.info("connection %s: Xero tokens refreshed", connection.pk)
            return fresh["access_token"]
    except oauth.XeroGrantRefusedError:
        row, credentials = _read(connection)
        if used_refresh_token and credentials.get("refresh_token") not in (None, "", used_refresh_token):
            # A sibling outside our lock (another region, an old deployment) rotated first: theirs is the live set.
            logger.info("connection %s: invalid_grant, but a sibling already refreshed", connection.pk)
            connection.credentials_ciphertext = row.credentials_ciphertext
            if _usable(credentials):
                return credentials["access_token"]
            return xero_token_refresh(
                connection=connection, transport=transport, mark_needs_reauth=mark_needs_reauth, sleep=sleep
            )
        if mark_needs_reauth:
            with tenant_scope(connection.tenant_id):
                connection_mark_needs_reauth(
                    connection=row,
                    reason="Xero no longer accepts the stored sign-in (refresh token expired or revoked). "
                    "Connect Xero again to resume syncing.",
                )
            connection.status = row.status
        raise


def xero_access_token(
    *, connection: Connection, force_refresh: bool = False, rejected_token: str | None = None, transport=None
) -> str:
    """A usable access token for the connection: the stored one while it has more than the margin left, else a
    single-flight refresh. `force_refresh` (after a 401) refreshes unless a sibling already replaced
    `rejected_token`."""
    row, credentials = _read(connection)
    _refuse_unless_live(row, credentials)
    if not force_refresh and _usable(credentials):
        return credentials["access_token"]
    rejected = rejected_token if force_refresh else credentials.get("access_token")
    return xero_token_refresh(connection=connection, rejected_token=rejected, transport=transport)


class XeroTokenProvider:
    """The XeroClient's `access_token_provider`: reads the connection's token from the database, refreshing
    single-flight when it is about to expire or Xero refused it. Lives as long as one client."""

    def __init__(self, connection: Connection, *, transport=None):
        self.connection = connection
        self.transport = transport
        self._token: str | None = None
        self._expires_at: float = 0.0

    def __call__(self, client=None, *, force_refresh: bool = False) -> str:
        margin = settings.XERO_TOKEN_REFRESH_MARGIN_SECONDS
        if not force_refresh and self._token and self._expires_at - time.time() > margin:
            return self._token
        token = xero_access_token(
            connection=self.connection,
            force_refresh=force_refresh,
            rejected_token=self._token,
            transport=self.transport,
        )
        row, credentials = _read(self.connection)
        left = _seconds_left(credentials)
        same = credentials.get("access_token") == token
        self._token = token
        # Unknown expiry: ask the database again next time rather than trusting memory.
        self._expires_at = time.time() + left if (same and left is not None) else 0.0
        return token


def xero_client_for(connection: Connection, *, transport=None, **kwargs) -> XeroClient:
    """The XeroClient for a connection, with single-flight token refresh. Everyone builds Xero clients here.

    `transport` reaches the sandbox in tests; without one, settings.XERO_HTTP_TRANSPORT decides (empty: network).
    Call the client outside transaction.atomic() so its rate-limit slots are visible to other workers.
    """
    transport = transport or oauth.default_transport()
    return XeroClient(
        connection=connection,
        transport=transport,
        access_token_provider=XeroTokenProvider(connection, transport=transport),
        **kwargs,
    )


def xero_credentials_revoke(*, connection: Connection, transport=None) -> None:
    """Detach the organisation (DELETE /connections/{id}) and revoke the refresh token at Xero.

    Called by connection_disconnect through XeroClient.revoke_credentials(). A refused refresh here never marks
    the connection needs_reauth: it is being disconnected anyway.
    """
    row, credentials = _read(connection)
    access_token = None
    try:
        if _usable(credentials):
            access_token = credentials["access_token"]
        elif row.status != Status.DISCONNECTED:
            access_token = xero_token_refresh(
                connection=row,
                rejected_token=credentials.get("access_token"),
                transport=transport,
                mark_needs_reauth=False,
            )
            row, credentials = _read(connection)
    except (ProviderAuthError, RetryableError):
        logger.warning("connection %s: no usable Xero token to detach the organisation", connection.pk)
    if access_token:
        xero_connection_id = credentials.get("xero_connection_id")
        if not xero_connection_id:
            organisations = oauth.organisations_list(access_token=access_token, transport=transport)
            match = next((o for o in organisations if o.get("tenantId") == row.external_account_id), None)
            xero_connection_id = match.get("id") if match else None
        if xero_connection_id:
            oauth.connection_delete_remote(
                access_token=access_token, xero_connection_id=xero_connection_id, transport=transport
            )
    if credentials.get("refresh_token"):
        oauth.refresh_token_revoke(refresh_token=credentials["refresh_token"], transport=transport)


def xero_tokens_refresh_idle(*, now=None, transport=None) -> dict[str, int]:
    """Refresh every live Xero token set not refreshed for XERO_PROACTIVE_REFRESH_DAYS.

    A refresh token dies after 60 days unused; a tenant whose shop is quiet for two months must not lose Xero.
    Returns counts: refreshed, failed (already marked needs_reauth or to be retried tomorrow).
    """
    now = now or timezone.now()
    cutoff = (now - timedelta(days=settings.XERO_PROACTIVE_REFRESH_DAYS)).timestamp()
    # A system sweep across every tenant: ids only here; each refresh runs in its own tenant's scope.
    with all_tenants():
        rows = list(Connection.objects.filter(provider="xero", status=Status.ACTIVE).values_list("tenant_id", "pk"))
    counts = {"refreshed": 0, "failed": 0, "checked": len(rows)}
    for tenant_id, pk in rows:
        with tenant_scope(tenant_id):
            connection = Connection.objects.get(pk=pk)
        credentials = crypto.credentials_read(connection)
        try:
            refreshed_at = int(credentials.get("refreshed_at") or 0)
        except ValueError:
            refreshed_at = 0
        if refreshed_at > cutoff:
            continue
        try:
            xero_token_refresh(
                connection=connection, rejected_token=credentials.get("access_token"), transport=transport
            )
        except (ProviderAuthError, RetryableError):
            counts["failed"] += 1
            logger.warning("connection %s: proactive Xero refresh failed", pk, exc_info=True)
        else:
            counts["refreshed"] += 1
    return counts
