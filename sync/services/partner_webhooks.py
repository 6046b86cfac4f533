"""Outbound webhooks to partner systems: endpoint configuration, emitting events, signing and delivery.

Other code calls `partner_event_emit(connection=…, event="invoice.paid", data={…}, key=…)`: it stores a durable
write-back (deduplicated by key) and returns at once; a worker delivers it (sync.services.write_backs) with the
shared retry policy and a delivery log.

Each delivery is one POST of a JSON body with these headers (documented for partner developers in the README,
"Outbound partner webhooks"):

    Ledgerbridge-Event: invoice.paid
    Ledgerbridge-Delivery: 4711                  the same on every retry and replay of one event: dedupe on it
    Ledgerbridge-Signature: t=1700000000,v1=<hex HMAC-SHA256(secret, "<t>." + raw body)>

The timestamp is signed with the body, so a captured delivery cannot be replayed later by someone else: partners
reject signatures older than a few minutes.
"""

import hashlib
import hmac
import json
import secrets
import time

import httpx
from django.db import transaction

from connections import crypto
from connections.client import parse_retry_after
from connections.models import Connection, PartnerWebhookEndpoint
from connections.outbound_urls import UnsafeUrl, outbound_url_check
from core.errors import ApplicationError, NotFoundError
from sync.models import WriteBack
from sync.services.write_backs import AttemptResult, write_back_stage

EVENTS = PartnerWebhookEndpoint.Event
SIGNATURE_HEADER = "Ledgerbridge-Signature"
EVENT_HEADER = "Ledgerbridge-Event"
DELIVERY_HEADER = "Ledgerbridge-Delivery"
USER_AGENT = "Ledgerbridge-Webhooks/1"
# A partner that takes longer than this is treated as down (the delivery is retried later).
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
EXCERPT_CHARS = 300


# Configuration ------------------------------------------------------------------------------------------------


def _validate(*, connection: Connection, url: str, events) -> list[str]:
    if connection.provider != "rest":
        raise ApplicationError(
            "Outbound webhooks are for partner (REST) connections only.",
            code="invalid",
            extra={"fields": {"connection": ["Choose a partner connection."]}},
        )
    try:
        outbound_url_check(url)
    except UnsafeUrl as exc:
        raise ApplicationError(
            f"The webhook URL cannot be used: {exc.message}", code="invalid", extra={"fields": {"url": [exc.message]}}
        ) from exc
    unknown = sorted(set(events) - set(EVENTS.values))
    if unknown or not events:
        raise ApplicationError(
            f"Choose one or more of {', '.join(EVENTS.values)}.",
            code="invalid",
            extra={"fields": {"events": unknown or ["none chosen"]}},
        )
    return sorted(set(events))


@transaction.atomic
def partner_webhook_endpoint_set(
    *, connection: Connection, url: str, events, is_active: bool = True
) -> tuple[PartnerWebhookEndpoint, str | None]:
    """Create or change the partner connection's webhook endpoint. Returns (endpoint, secret): the signing secret
    only when the endpoint is created, the one time it is ever shown; None on a change."""
    events = _validate(connection=connection, url=url, events=events)
    endpoint = PartnerWebhookEndpoint.objects.select_for_update().filter(connection=connection).first()
    if endpoint is not None:
        endpoint.url, endpoint.events, endpoint.is_active = url, events, is_active
        endpoint.save(update_fields=["url", "events", "is_active", "updated_at"])
        return endpoint, None
    endpoint = PartnerWebhookEndpoint.objects.create(
        tenant_id=connection.tenant_id, connection=connection, url=url, events=events, is_active=is_active
    )
    return endpoint, partner_webhook_secret_rotate(endpoint=endpoint)


def partner_webhook_secret_rotate(*, endpoint: PartnerWebhookEndpoint) -> str:
    """Give the endpoint a new signing secret and return it (shown once; deliveries from now on use it)."""
    secret = "whsec_" + secrets.token_urlsafe(32)
    endpoint.secret_ciphertext = crypto.encrypt_for(
        endpoint.connection, purpose=crypto.PURPOSE_PARTNER_WEBHOOK_SECRET, value=secret
    )
    endpoint.save(update_fields=["secret_ciphertext", "updated_at"])
    return secret


# Emitting -----------------------------------------------------------------------------------------------------


def partner_event_emit(*, connection: Connection, event: str, data: dict, key: str) -> WriteBack | None:
    """Owe the partner one webhook: durable, deduplicated by `key` (emitting the same key again is a no-op), sent
    asynchronously. Returns the write-back, or None when the partner has no active endpoint taking this event.

    `data` is the event's object; money as Decimal (sent as a decimal string), times timezone-aware.
    """
    if event not in EVENTS.values:
        raise ApplicationError(f"Unknown partner event '{event}'.", code="invalid", extra={"event": event})
    endpoint = PartnerWebhookEndpoint.objects.filter(connection=connection, is_active=True).first()
    if endpoint is None or event not in endpoint.events:
        return None
    write_back, _ = write_back_stage(
        connection=connection,
        kind=WriteBack.Kind.PARTNER_WEBHOOK,
        event=event,
        key=f"{event}:{key}",
        source_id=str(data.get("id", ""))[:128] if isinstance(data, dict) else "",
        data=data,
    )
    return write_back


# Signing and delivery -----------------------------------------------------------------------------------------


def webhook_body(write_back: WriteBack) -> bytes:
    """The JSON body of a delivery: the same bytes on every attempt and replay of one event."""
    envelope = {
        "id": str(write_back.pk),
        "event": write_back.event,
        "created_at": write_back.created_at.isoformat().replace("+00:00", "Z"),
        "data": write_back.data,
    }
    return json.dumps(envelope, separators=(",", ":"), sort_keys=True).encode()


def webhook_signature(*, secret: str, timestamp: int, body: bytes) -> str:
    """The Ledgerbridge-Signature header value: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + body>."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def partner_webhook_deliver(write_back: WriteBack, *, transport=None, context: dict) -> AttemptResult:
    """POST one signed delivery to the partner's endpoint; what happened, for the delivery log and the policy.

    2xx is delivered. Any other answer, a timeout or a network error is retried on the shared schedule; a URL
    that cannot be requested at all, a removed endpoint or an unreadable secret is a dead letter at once.
    """
    endpoint = PartnerWebhookEndpoint.objects.filter(connection_id=write_back.connection_id, is_active=True).first()
    if endpoint is None:
        raise NotFoundError("The partner connection has no active webhook endpoint any more.", code="no_endpoint")
    try:
        # Again at each delivery: the host's DNS may point somewhere else since the URL was saved.
        vetted = outbound_url_check(endpoint.url)
    except UnsafeUrl as exc:
        # A host that does not resolve now may again later; an address we refuse is for a person to fix.
        retryable = exc.code == "unresolvable"
        code = "unreachable" if retryable else "bad_url"
        return AttemptResult(
            ok=False, error=f"The webhook URL cannot be used: {exc.message}", code=code, retryable=retryable
        )
    secret = crypto.partner_webhook_secret_read(endpoint)
    client = context.get("partner_http")
    if client is None:
        client = context["partner_http"] = httpx.Client(transport=transport, timeout=TIMEOUT)
    body = webhook_body(write_back)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        EVENT_HEADER: write_back.event,
        DELIVERY_HEADER: str(write_back.pk),
        SIGNATURE_HEADER: webhook_signature(secret=secret, timestamp=int(time.time()), body=body),
    }
    started = time.monotonic()
    try:
        url, pinned_headers, extensions = vetted.pinned
        response = client.post(url, content=body, headers={**headers, **pinned_headers}, extensions=extensions)
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        return AttemptResult(ok=False, error=f"The webhook URL cannot be used: {exc}", code="bad_url", retryable=False)
    except httpx.TimeoutException:
        return AttemptResult(
            ok=False, latency_ms=_ms(started), error="The partner did not answer in time.", code="timeout"
        )
    except httpx.HTTPError as exc:
        return AttemptResult(
            ok=False, latency_ms=_ms(started), error=f"Could not reach the partner: {exc}", code="unreachable"
        )
    ok = 200 <= response.status_code < 300
    return AttemptResult(
        ok=ok,
        status_code=response.status_code,
        latency_ms=_ms(started),
        excerpt=response.text[:EXCERPT_CHARS],
        error="" if ok else f"The partner answered {response.status_code}.",
        code="" if ok else f"http_{response.status_code}",
        retry_after=parse_retry_after(response.headers.get("Retry-After")) if response.status_code == 429 else None,
    )


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
