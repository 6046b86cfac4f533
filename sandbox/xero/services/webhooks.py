"""Webhooks: events queued on writes, delivered signed to each app's URL, retried with decreasing frequency."""

import base64
import functools
import hashlib
import hmac
import json
import secrets
import string
from datetime import timedelta

import httpx
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from sandbox.xero.models import Connection, Grant, Organisation, WebhookDelivery, XeroApp

RESOURCE_PATHS = {"CONTACT": "Contacts", "INVOICE": "Invoices", "CREDITNOTE": "CreditNotes"}
# Delay before attempt n+1 after n failures: frequent at first, then rarer; given up after 24 hours.
RETRY_DELAYS = [
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=15),
    timedelta(minutes=30),
    timedelta(hours=1),
    timedelta(hours=2),
    timedelta(hours=4),
    timedelta(hours=8),
]
RETRY_WINDOW = timedelta(hours=24)
DELIVERY_TIMEOUT_SECONDS = 5
# Events raised within this window go out in one delivery, as Xero batches them.
COALESCE_WINDOW = timedelta(seconds=5)


def webhook_sign(*, body: bytes, key: str) -> str:
    """x-xero-signature: base64(HMAC-SHA256(raw body, webhook key))."""
    return base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()


def _entropy() -> str:
    return "".join(secrets.choice(string.ascii_uppercase) for _ in range(20))


def webhook_event_queue(
    *, org: Organisation, category: str, resource_id, created: bool, data: dict | None = None, ws=None
):
    """Queue a CREATE/UPDATE event for every app connected to `org` that has a delivery URL.

    With a workspace (`ws`) the event waits for its flush, so a batch's events are queued together; when no app
    listens to the organisation (the workspace asks once), there is nothing to queue and no event is built.
    """
    if ws is not None and not ws.webhook_apps():
        return
    now = timezone.now()
    event = {
        "resourceUrl": f"https://api.xero.com/api.xro/2.0/{RESOURCE_PATHS[category]}/{resource_id}",
        "resourceId": str(resource_id),
        "eventDateUtc": now.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3],
        "eventType": "CREATE" if created else "UPDATE",
        "eventCategory": category,
        "tenantId": str(org.tenant_id),
        "tenantType": "ORGANISATION",
    }
    if data:
        event["data"] = data
    if ws is not None:
        ws.event(event)
    else:
        webhook_events_queue(org=org, events=[event])


def webhook_apps(*, org: Organisation) -> list[XeroApp]:
    """The apps connected to `org` that have a delivery URL: those its events go to.

    Asked by every write request: the statement is the ORM's for
    `XeroApp.objects.filter(grants__connections__organisation=org, grants__connections__deleted_at__isnull=True)
    .exclude(webhook_url="").distinct()`, written once, since building and compiling that queryset cost more than
    running it (about 1 ms a request)."""
    return list(XeroApp.objects.raw(_webhook_apps_sql(), [org.pk, ""]))


@functools.cache
def _webhook_apps_sql() -> str:
    quote = connection.ops.quote_name
    app, grant = XeroApp._meta, Grant._meta
    link = Connection._meta
    columns = ", ".join(f"a.{quote(f.column)}" for f in app.concrete_fields)
    return (
        f"SELECT DISTINCT {columns} FROM {quote(app.db_table)} a"  # noqa: S608 - model metadata only
        f" JOIN {quote(grant.db_table)} g ON g.{quote(grant.get_field('app').column)} = a.{quote(app.pk.column)}"
        f" JOIN {quote(link.db_table)} c ON c.{quote(link.get_field('grant').column)} = g.{quote(grant.pk.column)}"
        f" WHERE c.{quote(link.get_field('deleted_at').column)} IS NULL"
        f" AND c.{quote(link.get_field('organisation').column)} = %s"
        f" AND NOT (a.{quote(app.get_field('webhook_url').column)} = %s)"
    )


def webhook_events_queue(*, org: Organisation, events: list[dict], apps: list[XeroApp] | None = None) -> None:
    """Add events, in order, to each connected app's delivery still collecting (or to a new one): of `apps`, when
    the caller has read them (webhook_apps), else of those connected now."""
    if apps is None:
        apps = webhook_apps(org=org)
    now = timezone.now()
    for app in apps:
        with transaction.atomic():
            pending = (
                WebhookDelivery.objects.select_for_update()
                .filter(app=app, attempts=0, body__isnull=True, created_at__gte=now - COALESCE_WINDOW)
                .order_by("-created_at")
                .first()
            )
            if pending is None:
                WebhookDelivery.objects.create(app=app, events=list(events), next_attempt_at=now)
            else:
                pending.events = [*pending.events, *events]
                pending.save(update_fields=["events"])


def _freeze(delivery: WebhookDelivery) -> None:
    """Number the events and fix the body at the first attempt; retries resend the same bytes."""
    app = delivery.app
    count = len(delivery.events)
    XeroApp.objects.filter(pk=app.pk).update(last_event_sequence=F("last_event_sequence") + count)
    last = XeroApp.objects.values_list("last_event_sequence", flat=True).get(pk=app.pk)
    payload = {
        "events": delivery.events,
        "firstEventSequence": last - count + 1,
        "lastEventSequence": last,
        "entropy": _entropy(),
    }
    delivery.body = json.dumps(payload, separators=(",", ":")).encode()
    delivery.signature = webhook_sign(body=delivery.body, key=app.webhook_key)


def _post(client: httpx.Client, url: str, body: bytes, signature: str) -> tuple[int | None, str]:
    try:
        response = client.post(
            url,
            content=body,
            headers={"Content-Type": "application/json", "x-xero-signature": signature},
            timeout=DELIVERY_TIMEOUT_SECONDS,
        )
    except httpx.HTTPError as exc:
        return None, f"{type(exc).__name__}: {exc}"[:500]
    return response.status_code, ""


def webhook_intent_to_receive(*, app: XeroApp, client: httpx.Client) -> bool:
    """Xero's check of a delivery URL: a well-signed empty payload must get 200, a badly signed one 401.

    Enables the app's webhook when both answers are right; events are only delivered to an enabled webhook.
    """
    body = json.dumps(
        {"events": [], "firstEventSequence": 0, "lastEventSequence": 0, "entropy": _entropy()},
        separators=(",", ":"),
    ).encode()
    good, _ = _post(client, app.webhook_url, body, webhook_sign(body=body, key=app.webhook_key))
    wrong_key = base64.b64encode(secrets.token_bytes(32)).decode()
    bad, _ = _post(client, app.webhook_url, body, webhook_sign(body=body, key=wrong_key))
    passed = good == 200 and bad == 401
    XeroApp.objects.filter(pk=app.pk).update(webhook_enabled=passed)
    app.webhook_enabled = passed
    return passed


def webhooks_deliver(*, client: httpx.Client, now=None, app: XeroApp | None = None) -> dict:
    """Send every due delivery of enabled webhooks through `client` (any httpx transport, e.g. SandboxTransport).

    A 2xx answer delivers; anything else is retried later, and after 24 hours the delivery fails and the app's
    webhook is disabled (it must pass intent-to-receive again). Returns counts.
    """
    now = now or timezone.now()
    due = WebhookDelivery.objects.filter(
        status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now, app__webhook_enabled=True
    ).select_related("app")
    if app is not None:
        due = due.filter(app=app)
    counts = {"delivered": 0, "retrying": 0, "failed": 0}
    for delivery in due.order_by("created_at", "id"):
        if delivery.body is None:
            _freeze(delivery)
        status, error = _post(client, delivery.app.webhook_url, bytes(delivery.body), delivery.signature)
        delivery.attempts += 1
        delivery.last_status_code, delivery.last_error = status, error
        if status is not None and 200 <= status < 300:
            delivery.status, delivery.delivered_at = WebhookDelivery.Status.DELIVERED, now
            counts["delivered"] += 1
        else:
            delay = RETRY_DELAYS[min(delivery.attempts - 1, len(RETRY_DELAYS) - 1)]
            if now + delay - delivery.created_at > RETRY_WINDOW:
                delivery.status = WebhookDelivery.Status.FAILED
                XeroApp.objects.filter(pk=delivery.app_id).update(webhook_enabled=False)
                counts["failed"] += 1
            else:
                delivery.next_attempt_at = now + delay
                counts["retrying"] += 1
        delivery.save()
    return counts


def connected_apps(*, org: Organisation):
    return XeroApp.objects.filter(
        id__in=Connection.objects.filter(organisation=org, deleted_at__isnull=True).values("grant__app")
    )
