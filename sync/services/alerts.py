"""Email alerts to a tenant's admins: failures (the first at once, then digests), day limits, silent webhooks.

Every alert sent is recorded as an Alert row; the rows are also what throttles: at most one failure message per
tenant every FAILURE_DIGEST_INTERVAL, one day-limit message per reset, one silence message per silence.
"""

from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db.models import Count
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.timesince import timesince

from connections.models import Connection
from sync.models import Alert, SyncJob, WebhookStats
from tenants.models import Tenant
from tenants.selectors import tenant_admin_emails

FAILURE_DIGEST_INTERVAL = timedelta(minutes=30)
FAILED_STATES = (SyncJob.State.NEEDS_ATTENTION, SyncJob.State.DEAD)
# A webhook source is "silent" when its last delivery is older than this many usual gaps (and at least 6 hours).
SILENCE_FACTOR = 10
SILENCE_MINIMUM = timedelta(hours=6)


def alert_send(*, tenant: Tenant, kind: str, subject: str, template: str, context: dict, connection=None, counts=None):
    """Email the tenant's admins from templates/emails/<template> and record it as an Alert (also when nobody is
    there to receive it, so throttling still holds). Returns the Alert."""
    recipients = tenant_admin_emails(tenant=tenant)
    body = render_to_string(
        f"emails/{template}", {"tenant": tenant, "site_url": settings.SITE_URL.rstrip("/"), **context}
    )
    alert = Alert.objects.create(
        tenant=tenant,
        kind=kind,
        connection=connection,
        subject=subject[:200],
        body=body,
        recipients=recipients,
        counts=counts or {},
    )
    if recipients:
        send_mail(subject=subject, message=body, from_email=None, recipient_list=recipients)
    return alert


def failures_alert(*, tenant: Tenant, now=None) -> Alert | None:
    """Tell the admins about records that failed since the last failure alert, unless one went out recently.

    The first failure of a quiet tenant is reported at once; later ones wait for the next digest (at most one every
    30 minutes). Needs the tenant's scope. Returns the alert sent, or None.
    """
    now = now or timezone.now()
    last = Alert.objects.filter(kind__in=(Alert.Kind.FIRST_FAILURE, Alert.Kind.FAILURE_DIGEST)).first()
    if last is not None and now - last.created_at < FAILURE_DIGEST_INTERVAL:
        return None
    failed = SyncJob.objects.filter(state__in=FAILED_STATES)
    if last is not None:
        failed = failed.filter(updated_at__gt=last.created_at)
    groups = list(failed.values("cause").annotate(count=Count("id")).order_by("-count", "cause")[:20])
    total = sum(g["count"] for g in groups)
    if not total:
        return None
    first = last is None
    kind = Alert.Kind.FIRST_FAILURE if first else Alert.Kind.FAILURE_DIGEST
    subject = (
        f"{tenant.name}: a record could not be sent to Xero"
        if first
        else f"{tenant.name}: {total} record{'s' if total != 1 else ''} could not be sent to Xero"
    )
    context = {"first": first, "total": total, "groups": groups, "digest_minutes": 30}
    return alert_send(
        tenant=tenant,
        kind=kind,
        subject=subject,
        template="sync_failures.txt",
        context=context,
        counts={"total": total, "by_cause": {g["cause"]: g["count"] for g in groups}},
    )


def day_limit_alert(*, connection: Connection) -> Alert | None:
    """Tell the admins once per day-limit park of a Xero connection."""
    reset_at = connection.day_limit_reset_at
    if reset_at is None or reset_at <= timezone.now():
        return None
    already = Alert.objects.filter(
        kind=Alert.Kind.DAY_LIMIT, connection=connection, created_at__gt=reset_at - timedelta(days=1)
    ).exists()
    if already:
        return None
    tenant = Tenant.objects.get(pk=connection.tenant_id)
    return alert_send(
        tenant=tenant,
        kind=Alert.Kind.DAY_LIMIT,
        connection=connection,
        subject=f"{tenant.name}: Xero's daily limit reached, sync paused until it resets",
        template="sync_day_limit.txt",
        context={"connection": connection, "reset_at": reset_at},
    )


def webhook_silence_alert(*, stats: WebhookStats, now=None) -> Alert | None:
    """Tell the admins once when a webhook source has gone quiet for far longer than its usual rhythm."""
    now = now or timezone.now()
    if stats.received < 10 or stats.last_received_at is None:
        return None  # too little history to know its rhythm
    usual_gap = (stats.last_received_at - stats.created_at) / max(stats.received - 1, 1)
    silence = now - stats.last_received_at
    if silence < max(SILENCE_MINIMUM, usual_gap * SILENCE_FACTOR):
        return None
    if Alert.objects.filter(
        kind=Alert.Kind.WEBHOOK_SILENT, connection_id=stats.connection_id, created_at__gt=stats.last_received_at
    ).exists():
        return None
    connection = Connection.objects.get(pk=stats.connection_id)
    tenant = Tenant.objects.get(pk=stats.tenant_id)
    return alert_send(
        tenant=tenant,
        kind=Alert.Kind.WEBHOOK_SILENT,
        connection=connection,
        subject=f"{tenant.name}: no webhooks from {connection.display_name} since "
        f"{stats.last_received_at:%d %b %H:%M} UTC",
        template="sync_webhook_silent.txt",
        context={
            "connection": connection,
            "last_received_at": stats.last_received_at,
            "usual_gap": timesince(now - usual_gap, now),
        },
    )
