"""Writes for connections: create, credentials, status transitions, activity, call counters, the idle sweep.

Status transitions are conditional UPDATEs (`… WHERE status IN (…)`), so when many jobs hit the same expired
credentials at once exactly one of them performs the transition and sends the email.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.template.loader import render_to_string
from django.utils import timezone

from connections import crypto
from connections.models import Connection, ConnectionDailyUsage
from connections.providers.base import Account, AuthKind, ProviderValidationError
from connections.providers.registry import UnknownProviderError, provider_get
from core.errors import ApplicationError
from tenants.models import Tenant
from tenants.scoping import all_tenants, tenant_scope
from tenants.selectors import tenant_admin_emails
from tenants.services import activity_record

logger = logging.getLogger("connections")

Status = Connection.Status
LIVE = (Status.PENDING, Status.ACTIVE, Status.NEEDS_REAUTH)
# last_success_at is informational; writing it on every call would double the writes per call.
LAST_SUCCESS_RESOLUTION = timedelta(minutes=1)


def _provider(provider_id: str):
    try:
        return provider_get(provider_id)
    except UnknownProviderError as exc:
        raise ApplicationError(f"There is no provider '{provider_id}'.", code="unknown_provider") from exc


def _validated(validate, value, *, code: str, label: str):
    try:
        return validate(value)
    except ProviderValidationError as exc:
        raise ApplicationError(f"The {label} are not valid: {exc}", code=code, extra={"fields": exc.errors}) from None


def _email_admins(*, connection: Connection, template: str, subject: str, context: dict | None = None) -> None:
    """Email the tenant's agency owners and admins once the current transaction commits."""
    tenant = Tenant.objects.select_related("agency").get(pk=connection.tenant_id)
    recipients = tenant_admin_emails(tenant=tenant)
    if not recipients:
        return
    body = render_to_string(
        f"emails/{template}",
        {
            "connection": connection,
            "tenant": tenant,
            "agency": tenant.agency,
            "site_url": settings.SITE_URL.rstrip("/"),
            "provider_name": _provider(connection.provider).name,
            "disconnect_days": settings.CONNECTIONS_IDLE_DISCONNECT_DAYS,
            **(context or {}),
        },
    )
    transaction.on_commit(lambda: send_mail(subject=subject, message=body, from_email=None, recipient_list=recipients))


def _transition(*, connection: Connection, to: str, allowed_from, reason: str) -> bool:
    """Move to `to` only from `allowed_from`; True when this call made the change (exactly one caller wins)."""
    now = timezone.now()
    changed = Connection.objects.filter(pk=connection.pk, status__in=list(allowed_from)).update(
        status=to, status_reason=reason[:500], status_changed_at=now, updated_at=now
    )
    connection.refresh_from_db(fields=["status", "status_reason", "status_changed_at", "updated_at"])
    return bool(changed)


@transaction.atomic
def connection_create(
    *,
    tenant: Tenant,
    provider_id: str,
    display_name: str,
    credentials: dict | None = None,
    account: dict | None = None,
    webhook_secret: str | None = None,
    actor: str = "system",
) -> Connection:
    """Create a connection for `tenant`.

    With credentials (API-key providers) or for inbound-only providers the connection starts active; an OAuth2
    provider starts pending until its redirect flow stores tokens. Credentials are validated against the
    provider's declared fields and stored encrypted, bound to the new row.
    """
    provider = _provider(provider_id)
    cleaned = {}
    if credentials is not None:
        cleaned = _validated(
            provider.validate_credentials, credentials, code="invalid_credentials", label="credentials"
        )
    if provider.account_fields:
        remote = _validated(provider.validate_account, account or {}, code="invalid_account", label="account fields")
    else:
        if account:
            raise ApplicationError(f"{provider.name} takes no account fields.", code="invalid_account")
        remote = Account(external_account_id="", base_url=provider.default_base_url)
    if webhook_secret and not provider.webhook_signing:
        raise ApplicationError(f"{provider.name} does not sign its webhooks.", code="invalid_webhook_secret")
    active = bool(cleaned) or provider.auth_kind == AuthKind.INBOUND_ONLY
    try:
        with transaction.atomic():
            connection = Connection.objects.create(
                tenant=tenant,
                provider=provider.id,
                display_name=display_name.strip(),
                status=Status.ACTIVE if active else Status.PENDING,
                status_changed_at=timezone.now(),
                external_account_id=remote.external_account_id,
                base_url=remote.base_url,
            )
    except IntegrityError as exc:
        raise ApplicationError(
            f"This {provider.name} account is already connected to {tenant.name}.", code="already_connected"
        ) from exc
    # The ciphertext is bound to the row id, so it can only be written once the row exists.
    if cleaned:
        connection.credentials_ciphertext = crypto.encrypt_for(
            connection, purpose=crypto.PURPOSE_CREDENTIALS, value=cleaned
        )
    if webhook_secret:
        connection.webhook_secret_ciphertext = crypto.encrypt_for(
            connection, purpose=crypto.PURPOSE_WEBHOOK_SECRET, value=webhook_secret
        )
    if cleaned or webhook_secret:
        connection.save(update_fields=["credentials_ciphertext", "webhook_secret_ciphertext", "updated_at"])
    activity_record(
        tenant=tenant,
        actor=actor,
        action="connection.created",
        subject=str(connection),
        after={"provider": provider.id, "status": connection.status, "account": remote.external_account_id},
    )
    return connection


@transaction.atomic
def connection_set_credentials(
    *, connection: Connection, credentials: dict, activate: bool = True, actor: str = "system"
) -> Connection:
    """Replace the connection's credentials (validated, encrypted, bound to the row).

    With `activate`, a pending or needs-reauth connection becomes active. A disconnected connection is not
    revived: connect again instead.
    """
    provider = _provider(connection.provider)
    if connection.status == Status.DISCONNECTED:
        raise ApplicationError("This connection is disconnected; create a new one.", code="connection_disconnected")
    cleaned = _validated(provider.validate_credentials, credentials, code="invalid_credentials", label="credentials")
    connection.credentials_ciphertext = crypto.encrypt_for(
        connection, purpose=crypto.PURPOSE_CREDENTIALS, value=cleaned
    )
    connection.save(update_fields=["credentials_ciphertext", "updated_at"])
    if activate:
        connection_mark_active(connection=connection, reason="Credentials updated.", actor=actor)
    return connection


@transaction.atomic
def connection_set_webhook_secret(*, connection: Connection, secret: str) -> Connection:
    """Store the provider's webhook signing secret for this connection (encrypted, bound to the row)."""
    connection.webhook_secret_ciphertext = crypto.encrypt_for(
        connection, purpose=crypto.PURPOSE_WEBHOOK_SECRET, value=secret
    )
    connection.save(update_fields=["webhook_secret_ciphertext", "updated_at"])
    return connection


@transaction.atomic
def connection_mark_active(*, connection: Connection, reason: str = "", actor: str = "system") -> bool:
    """Mark a pending or needs-reauth connection active. True when the status changed."""
    changed = _transition(
        connection=connection, to=Status.ACTIVE, allowed_from=(Status.PENDING, Status.NEEDS_REAUTH), reason=reason
    )
    if changed:
        activity_record(
            tenant=connection.tenant,
            actor=actor,
            action="connection.active",
            subject=str(connection),
            after={"status": Status.ACTIVE, "reason": reason},
        )
    return changed


@transaction.atomic
def connection_mark_needs_reauth(*, connection: Connection, reason: str, actor: str = "system") -> bool:
    """The remote refused the credentials: mark needs_reauth and email the tenant's owners and admins.

    Many jobs may fail on the same credentials at once; only the one that changes the status sends the email,
    so admins get one message per transition, not one per job. True when this call made the change.
    """
    changed = _transition(
        connection=connection, to=Status.NEEDS_REAUTH, allowed_from=(Status.PENDING, Status.ACTIVE), reason=reason
    )
    if changed:
        activity_record(
            tenant=connection.tenant,
            actor=actor,
            action="connection.needs_reauth",
            subject=str(connection),
            after={"status": Status.NEEDS_REAUTH, "reason": reason},
        )
        _email_admins(
            connection=connection,
            template="connections_needs_reauth.txt",
            subject=f"Reconnect {connection.display_name} for {connection.tenant.name}",
            context={"reason": reason},
        )
    return changed


def _revoke_remote(connection: Connection) -> None:
    """Ask the provider to revoke the credentials, when its client knows how; failures never block a disconnect."""
    provider = _provider(connection.provider)
    if not provider.has_outbound_client or not connection.credentials_ciphertext:
        return
    client_class = provider.client_class()
    if not hasattr(client_class, "revoke_credentials"):
        return
    try:
        with client_class(connection=connection, rate_limiter=False) as client:
            client.revoke_credentials()
    except Exception:  # noqa: BLE001 — any failure: disconnect anyway, the tokens die unused
        logger.warning("connection %s: revoking credentials at %s failed", connection.pk, provider.id, exc_info=True)


def connection_disconnect(
    *, connection: Connection, reason: str, actor: str = "system", email_template: str | None = None
) -> bool:
    """Disconnect: revoke remotely where the provider can, erase the stored secrets, stop all calls.

    True when this call disconnected it (False when it already was). With `email_template`, the tenant's owners
    and admins are told (the idle sweep does; a person disconnecting in the console does not need an email).
    """
    if connection.status == Status.DISCONNECTED:
        return False
    _revoke_remote(connection)
    with transaction.atomic():
        changed = _transition(connection=connection, to=Status.DISCONNECTED, allowed_from=LIVE, reason=reason)
        if not changed:
            return False
        Connection.objects.filter(pk=connection.pk).update(
            credentials_ciphertext="", webhook_secret_ciphertext="", blocked_until=None, day_limit_reset_at=None
        )
        connection.refresh_from_db()
        activity_record(
            tenant=connection.tenant,
            actor=actor,
            action="connection.disconnected",
            subject=str(connection),
            after={"status": Status.DISCONNECTED, "reason": reason},
        )
        if email_template:
            _email_admins(
                connection=connection,
                template=email_template,
                subject=f"{connection.display_name} was disconnected from {connection.tenant.name}",
                context={"reason": reason},
            )
    return True


def connection_record_activity(*, connection: Connection, at=None) -> None:
    """Note sync activity on the connection; it restarts the idle clock (and re-arms the idle warning)."""
    at = at or timezone.now()
    Connection.objects.filter(pk=connection.pk).update(last_activity_at=at, idle_warning_sent_at=None)
    connection.last_activity_at, connection.idle_warning_sent_at = at, None


def connection_call_record(*, connection: Connection, succeeded: bool) -> None:
    """Count one external call in today's (UTC) counter, atomically; note the last success."""
    now = timezone.now()
    day = now.date()
    if transaction.get_connection().vendor == "postgresql":
        _call_record_statement(connection, day, now, succeeded)
        return
    with tenant_scope(connection.tenant_id):
        usage = ConnectionDailyUsage.objects.filter(tenant_id=connection.tenant_id, connection=connection, day=day)
        if not usage.update(calls=F("calls") + 1):
            try:
                with transaction.atomic():
                    ConnectionDailyUsage.objects.create(
                        tenant_id=connection.tenant_id, connection=connection, day=day, calls=1
                    )
            except IntegrityError:
                # Another worker created today's row first.
                usage.update(calls=F("calls") + 1)
        if succeeded:
            Connection.objects.filter(pk=connection.pk).filter(
                Q(last_success_at__isnull=True) | Q(last_success_at__lt=now - LAST_SUCCESS_RESOLUTION)
            ).update(last_success_at=now)


def _call_record_statement(connection: Connection, day, now, succeeded: bool) -> None:
    """connection_call_record in one plain statement: every call to a provider was two ORM queries (compiled
    each time) and a tenant scope, which cost the drain more than the rest of recording a batch's call. Today's row
    is counted up or created by INSERT … ON CONFLICT (no race with another worker creating it); the last success is
    noted no more than once per LAST_SUCCESS_RESOLUTION, as before."""
    usage = ConnectionDailyUsage._meta.db_table
    table = Connection._meta.db_table
    # Only table names are formatted in; every value is a parameter. Both rows are the connection's tenant's.
    sql = f"""
        WITH counted AS (
            INSERT INTO "{usage}" (created_at, updated_at, tenant_id, connection_id, day, calls)
            VALUES (%s, %s, %s, %s, %s, 1)
            ON CONFLICT (tenant_id, connection_id, day) DO UPDATE SET calls = "{usage}".calls + 1
        )
        UPDATE "{table}" SET last_success_at = %s
        WHERE %s AND id = %s AND tenant_id = %s AND (last_success_at IS NULL OR last_success_at < %s)
    """  # noqa: S608
    params = (
        now,
        now,
        connection.tenant_id,
        connection.pk,
        day,
        now,
        succeeded,
        connection.pk,
        connection.tenant_id,
        now - LAST_SUCCESS_RESOLUTION,
    )
    with transaction.get_connection().cursor() as cursor:
        cursor.execute(sql, params)


def connections_idle_sweep(*, now=None) -> dict:
    """Warn, then disconnect, connections without sync activity.

    Idle since the last activity (or, never active, since the last status change). At
    CONNECTIONS_IDLE_DISCONNECT_DAYS − CONNECTIONS_IDLE_WARNING_DAYS the tenant's admins are warned, once per idle
    period; at CONNECTIONS_IDLE_DISCONNECT_DAYS the connection is disconnected with an email. Returns counts.
    """
    now = now or timezone.now()
    disconnect_after = timedelta(days=settings.CONNECTIONS_IDLE_DISCONNECT_DAYS)
    warn_after = disconnect_after - timedelta(days=settings.CONNECTIONS_IDLE_WARNING_DAYS)
    idle_since = Coalesce("last_activity_at", "status_changed_at", "created_at")
    # A system sweep across every tenant: it only reads ids here, and each change runs in its tenant's scope.
    with all_tenants():
        live = Connection.objects.filter(status__in=list(LIVE)).annotate(idle_since=idle_since)
        to_disconnect = list(live.filter(idle_since__lte=now - disconnect_after).values_list("tenant_id", "pk"))
        to_warn = list(
            live.filter(
                idle_since__lte=now - warn_after, idle_since__gt=now - disconnect_after, idle_warning_sent_at=None
            ).values_list("tenant_id", "pk")
        )
    counts = {"warned": 0, "disconnected": 0}
    for tenant_id, pk in to_warn:
        with tenant_scope(tenant_id):
            counts["warned"] += connection_warn_idle(connection=Connection.objects.get(pk=pk), now=now)
    for tenant_id, pk in to_disconnect:
        with tenant_scope(tenant_id):
            connection = Connection.objects.get(pk=pk)
            days = settings.CONNECTIONS_IDLE_DISCONNECT_DAYS
            counts["disconnected"] += connection_disconnect(
                connection=connection,
                reason=f"No sync activity for {days} days.",
                email_template="connections_idle_disconnected.txt",
            )
    return counts


@transaction.atomic
def connection_warn_idle(*, connection: Connection, now=None) -> bool:
    """Email the idle warning unless it already went out for this idle period. True when it was sent now."""
    now = now or timezone.now()
    claimed = Connection.objects.filter(pk=connection.pk, idle_warning_sent_at=None, status__in=list(LIVE)).update(
        idle_warning_sent_at=now
    )
    if not claimed:
        return False
    connection.refresh_from_db()
    idle_since = connection.last_activity_at or connection.status_changed_at or connection.created_at
    disconnect_on = idle_since + timedelta(days=settings.CONNECTIONS_IDLE_DISCONNECT_DAYS)
    _email_admins(
        connection=connection,
        template="connections_idle_warning.txt",
        subject=f"{connection.display_name} for {connection.tenant.name} will be disconnected on "
        f"{disconnect_on:%d %B %Y}",
        context={"idle_since": idle_since, "disconnect_on": disconnect_on},
    )
    return True
