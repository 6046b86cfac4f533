"""Cin7 Core webhooks: subscriptions (`/webhooks`), thin event payloads, and deliveries with Cin7's retries.

Facts (sources.md §3.6): a subscription is `{ID, Type, Name, IsActive, ExternalURL, ExternalAuthorizationType
(noauth|basicauth|bearerauth), ExternalUserName, ExternalPassword, ExternalBearerToken, ExternalHeaders[{Key,
Value}]}`; at most 5 webhooks of one type; no signature, the receiver trusts the credentials and headers it
registered; 6 attempts, 1 minute after the event and then +5, +10, +15, +20, +25 minutes, after which the
webhook is deactivated. Payloads are thin pointers: the receiver fetches the sale again.
"""

import base64
import json
import logging
import uuid
from datetime import timedelta

import httpx
from django.db import transaction
from django.utils import timezone

from sandbox.cin7 import documents
from sandbox.cin7.errors import Cin7ValidationError
from sandbox.cin7.models import Cin7Account, Cin7Record, Cin7WebhookDelivery

logger = logging.getLogger(__name__)
Kind = Cin7Record.Kind

WEBHOOK_TYPES = (
    "Sale/Created",
    "Sale/QuoteAuthorised",
    "Sale/OrderAuthorised",
    "Sale/Voided",
    "Sale/Backordered",
    "Sale/ShipmentAuthorised",
    "Sale/InvoiceAuthorised",
    "Sale/PickAuthorised",
    "Sale/PackAuthorised",
    "Sale/CreditNoteAuthorised",
    "Sale/Undo",
    "Sale/PartialPaymentReceived",
    "Sale/FullPaymentReceived",
    "Sale/AttachmentAdded",
    "Sale/AdditionalAttributesChanged",
    "Sale/ShipmentTrackingNumberChanged",
    "Purchase/OrderAuthorised",
    "Purchase/InvoiceAuthorised",
    "Purchase/StockReceivedAuthorised",
    "Purchase/CreditNoteAuthorised",
    "Purchase/Updated",
    "Customer/Updated",
    "Supplier/Updated",
    "Product/Updated",
    "Stock/AvailableStockLevelChanged",
    "Lead/Updated",
    "Lead/Converted",
    "Opportunity/Authorized",
    "Opportunity/AttachmentAdded",
    "Opportunity/Voided",
    "Opportunity/Converted",
    "Task/Overdue",
)
AUTH_TYPES = ("noauth", "basicauth", "bearerauth")
MAX_PER_TYPE = 5
# Delay before each attempt, counted from the previous one: 1 minute after the event, then +5 ... +25.
RETRY_DELAYS = (timedelta(minutes=1), *(timedelta(minutes=m) for m in (5, 10, 15, 20, 25)))
DELIVERY_TIMEOUT_SECONDS = 10


def _webhooks(account) -> list[dict]:
    rows = Cin7Record.objects.filter(account=account, kind=Kind.WEBHOOK).order_by("pk")
    return [json.loads(row.body) for row in rows]


def _validate(account, webhook: dict, *, replacing: str = "") -> None:
    errors = []
    if webhook.get("Type") not in WEBHOOK_TYPES:
        errors.append(f"Type '{webhook.get('Type')}' is not a valid webhook type")
    if not webhook.get("ExternalURL"):
        errors.append("ExternalURL is required")
    auth = webhook.get("ExternalAuthorizationType") or "noauth"
    if auth not in AUTH_TYPES:
        errors.append(f"ExternalAuthorizationType must be one of {', '.join(AUTH_TYPES)}")
    same_type = [
        w
        for w in _webhooks(account)
        if w.get("Type") == webhook.get("Type") and documents.guid_key(w.get("ID")) != replacing
    ]
    if len(same_type) >= MAX_PER_TYPE:
        errors.append(f"Maximum {MAX_PER_TYPE} webhooks of the same type are allowed")
    if errors:
        raise Cin7ValidationError("; ".join(errors))


def _normalised(webhook: dict, webhook_id: str) -> dict:
    return {
        "ID": webhook_id,
        "Type": webhook.get("Type"),
        "Name": webhook.get("Name") or webhook.get("Type"),
        "IsActive": bool(webhook.get("IsActive", True)),
        "ExternalURL": webhook.get("ExternalURL"),
        "ExternalAuthorizationType": webhook.get("ExternalAuthorizationType") or "noauth",
        "ExternalUserName": webhook.get("ExternalUserName") or "",
        "ExternalPassword": webhook.get("ExternalPassword") or "",
        "ExternalBearerToken": webhook.get("ExternalBearerToken") or "",
        "ExternalHeaders": list(webhook.get("ExternalHeaders") or []),
    }


def webhook_create(*, account: Cin7Account, data: dict) -> dict:
    """POST /webhooks: subscribe a URL to one event type (at most 5 per type)."""
    from sandbox.cin7.services import record_store

    _validate(account, data)
    webhook = _normalised(data, str(uuid.uuid4()))
    record_store(account=account, kind=Kind.WEBHOOK, record=webhook)
    return webhook


def webhook_update(*, account: Cin7Account, data: dict) -> dict:
    """PUT /webhooks: change the subscription with that ID (reactivating it is how a disabled hook comes back)."""
    from sandbox.cin7.services import record_store

    key = documents.guid_key(data.get("ID"))
    row = Cin7Record.objects.filter(account=account, kind=Kind.WEBHOOK, key=key).first() if key else None
    if row is None:
        raise Cin7ValidationError(f"Webhook with ID = {data.get('ID')} not found")
    merged = json.loads(row.body) | data
    _validate(account, merged, replacing=key)
    webhook = _normalised(merged, json.loads(row.body)["ID"])
    record_store(account=account, kind=Kind.WEBHOOK, record=webhook)
    return webhook


def webhook_delete(*, account: Cin7Account, webhook_id: str) -> None:
    """DELETE /webhooks?ID=: remove a subscription and drop its undelivered events."""
    key = documents.guid_key(webhook_id)
    deleted, _ = Cin7Record.objects.filter(account=account, kind=Kind.WEBHOOK, key=key).delete()
    if not deleted:
        raise Cin7ValidationError(f"Webhook with ID = {webhook_id} not found")
    Cin7WebhookDelivery.objects.filter(
        account=account, webhook_key=key, status=Cin7WebhookDelivery.Status.PENDING
    ).delete()


def sale_event_payload(account: Cin7Account, sale: dict, event_type: str) -> dict:
    """The thin payload Cin7 sends for a Sale/* event; keys differ per event (sources.md §3.6)."""
    sale_id = sale.get("ID") or sale.get("SaleID")
    number = (sale.get("Order") or {}).get("SaleOrderNumber") or sale.get("OrderNumber")
    if event_type == "Sale/Created":
        return {
            "SaleID": sale_id,
            "SaleOrderNumber": number,
            "CustomerName": sale.get("Customer"),
            "CustomerContactName": sale.get("Contact"),
            "CustomerContactEmail": sale.get("Email"),
            "SaleRepEmail": sale.get("SalesRepresentative"),
            "SaleOrderDate": str(sale.get("SaleOrderDate") or sale.get("OrderDate") or "")[:10],
            # Cin7 sends its flags as "0"/"1" strings.
            "TaskTypeSign": "0",
            "IsServiceOnly": "1" if sale.get("ServiceOnly") else "0",
            "DownloadLink": None,
            "EventType": event_type,
        }
    if event_type == "Sale/ShipmentAuthorised":
        return {
            "SaleTaskID": sale_id,
            "TenantID": account.account_id.upper(),
            "OrderNumber": number,
            "CustomerName": sale.get("Customer"),
            "EventType": event_type,
        }
    return {"SaleID": sale_id, "SaleOrderNumber": number, "EventType": event_type}


def webhook_event_emit(*, account: Cin7Account, event_type: str, payload: dict) -> int:
    """Queue `payload` for every active webhook of `event_type`; returns how many deliveries were queued.

    The first attempt is due one minute after the event, as Cin7 schedules it.
    """
    due = timezone.now() + RETRY_DELAYS[0]
    text = documents.dumps(payload)
    deliveries = [
        Cin7WebhookDelivery(
            account=account,
            webhook_key=documents.guid_key(webhook["ID"]),
            event_type=event_type,
            payload=text,
            next_attempt_at=due,
        )
        for webhook in _webhooks(account)
        if webhook.get("Type") == event_type and webhook.get("IsActive")
    ]
    Cin7WebhookDelivery.objects.bulk_create(deliveries)
    return len(deliveries)


def _request_headers(webhook: dict) -> dict:
    headers = {"Content-Type": "application/json"}
    auth = webhook.get("ExternalAuthorizationType")
    if auth == "basicauth":
        pair = f"{webhook.get('ExternalUserName') or ''}:{webhook.get('ExternalPassword') or ''}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
    elif auth == "bearerauth":
        headers["Authorization"] = f"Bearer {webhook.get('ExternalBearerToken') or ''}"
    for header in webhook.get("ExternalHeaders") or []:
        if isinstance(header, dict) and header.get("Key"):
            headers[str(header["Key"])] = str(header.get("Value") or "")
    return headers


def webhook_deliveries_deliver(*, client: httpx.Client, now=None, account: Cin7Account | None = None) -> dict:
    """Send every delivery due at `now` through `client`; reschedule failures, deactivate after the sixth.

    Call it from a test, a demo loop or a scheduled task; no worker is needed. Pass a `now` in the future to
    deliver without waiting for the schedule (the first attempt is due a minute after the event).
    Returns counts: {"delivered", "retrying", "failed"}.
    """
    now = now or timezone.now()
    due = Cin7WebhookDelivery.objects.filter(
        status=Cin7WebhookDelivery.Status.PENDING, next_attempt_at__lte=now
    ).order_by("pk")
    if account is not None:
        due = due.filter(account=account)
    counts = {"delivered": 0, "retrying": 0, "failed": 0}
    for delivery_id in list(due.values_list("pk", flat=True)):
        outcome = _deliver_one(delivery_id, client=client, now=now)
        if outcome:
            counts[outcome] += 1
    return counts


def _deliver_one(delivery_id: int, *, client: httpx.Client, now) -> str | None:
    with transaction.atomic():
        delivery = (
            Cin7WebhookDelivery.objects.select_for_update(skip_locked=True)
            .filter(pk=delivery_id, status=Cin7WebhookDelivery.Status.PENDING)
            .first()
        )
        if delivery is None:
            return None
        row = Cin7Record.objects.filter(
            account_id=delivery.account_id, kind=Kind.WEBHOOK, key=delivery.webhook_key
        ).first()
        webhook = json.loads(row.body) if row else None
        delivery.attempts += 1
        status_code, error = None, ""
        if webhook is None or not webhook.get("IsActive"):
            error = "webhook deleted or inactive"
        else:
            try:
                response = client.post(
                    webhook["ExternalURL"],
                    content=delivery.payload.encode(),
                    headers=_request_headers(webhook),
                    timeout=DELIVERY_TIMEOUT_SECONDS,
                )
                status_code = response.status_code
                if not 200 <= status_code < 300:
                    error = f"HTTP {status_code}"
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
        delivery.last_status_code, delivery.last_error = status_code, error
        if not error:
            delivery.status, delivery.delivered_at, delivery.next_attempt_at = "delivered", now, None
            outcome = "delivered"
        elif delivery.attempts < len(RETRY_DELAYS) and webhook is not None and webhook.get("IsActive"):
            delivery.next_attempt_at = now + RETRY_DELAYS[delivery.attempts]
            outcome = "retrying"
        else:
            delivery.status, delivery.next_attempt_at = "failed", None
            outcome = "failed"
            if webhook is not None and webhook.get("IsActive"):
                # After the last attempt fails Cin7 switches the webhook off; the owner must reactivate it.
                webhook["IsActive"] = False
                row.body, row.status = documents.dumps(webhook), "inactive"
                row.save(update_fields=["body", "status"])
                logger.info("cin7 sandbox: webhook %s deactivated after %s attempts", row.key, delivery.attempts)
        delivery.save()
        return outcome
