"""What each provider's webhook delivery looks like: how it is authenticated, split into events, and answered.

A handler never touches the database. It turns verified raw bytes into `InboundItem`s (kind, dedupe key, body)
or raises `MalformedDelivery`; the view stores them.

Dedupe keys, per provider:
- Xero events carry no id: a hash of (tenantId, eventCategory, eventType, resourceId, eventDateUtc).
- Adobe Commerce I/O events carry an id; webhook-module payloads carry the whole record (its updated_at changes
  with every edit), so a hash of the body identifies one version.
- Cin7 and Gorgias send thin pointers with neither id nor time ("sale X was authorised"). A hash of the body
  alone would swallow a second, real change to the same record, so the key is the hash plus a generation that
  moves on once the earlier identical event has been processed: a redelivery while the first is still waiting
  is a no-op, the same pointer after processing is a new change (see services.webhook_delivery_store).
"""

import hashlib
import json
import re
from dataclasses import dataclass
from urllib.parse import parse_qsl

from django.conf import settings
from django.http import HttpResponse, JsonResponse

from connections.crypto import webhook_secret_read
from core import jsonfast
from sync.inbound import signatures

ADOBE_EVENT_PREFIX = "com.adobe.commerce."
MAX_EVENTS_PER_DELIVERY = 1000


class MalformedDelivery(ValueError):
    """Authentic, but unusable: not JSON, or not the shape the provider documents."""


@dataclass(frozen=True)
class InboundItem:
    kind: str
    dedupe_key: str
    body: object
    # Xero only: the organisation (tenantId) the event belongs to; "" means the connection in the URL.
    account: str = ""
    # Pointer events: the dedupe key is `dedupe_key` plus a generation chosen at storage time.
    generational: bool = False


def sha256_hex(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode()
    return hashlib.sha256(data).hexdigest()


def canonical_json(value) -> str:
    """Decoded JSON as sorted, compact text: what dedupe keys hash and the poll stores (the same text as
    json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str) ever gave)."""
    return jsonfast.dumps_sorted(value, default=str)


# A \uD800-\uDFFF escape: half of a surrogate pair, which alone is no character at all.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _not_json_constant(name: str):
    raise ValueError(f"{name} is not a JSON value")


def _strings(value):
    """Every string in decoded JSON, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _json_object(body: bytes) -> dict:
    """The body's JSON object, or MalformedDelivery: also for what JSON's grammar allows and no store can hold, a
    NUL character or a lone surrogate (and Python's NaN and Infinity, which are not JSON)."""
    try:
        data = json.loads(body.decode("utf-8"), parse_constant=_not_json_constant)
    except UnicodeDecodeError:
        raise MalformedDelivery("The body is not UTF-8 text.") from None
    except json.JSONDecodeError as exc:
        raise MalformedDelivery(f"The body is not valid JSON ({exc.msg} at line {exc.lineno}).") from None
    except ValueError as exc:  # NaN or Infinity (_not_json_constant)
        raise MalformedDelivery(f"The body is not valid JSON ({exc}).") from None
    if not isinstance(data, dict):
        raise MalformedDelivery("The body is JSON but not an object.")
    # Cheap looks at the bytes first: only a body with such an escape is searched string by string.
    if b"\\u0000" in body and any("\x00" in text for text in _strings(data)):
        raise MalformedDelivery("The body's JSON holds a NUL character (\\u0000).")
    if _SURROGATE_ESCAPE.search(body) and not all(_encodable(text) for text in _strings(data)):
        raise MalformedDelivery("The body's JSON holds a lone surrogate (half of a \\uD800-\\uDFFF pair).")
    return data


class WebhookHandler:
    provider_id = ""
    # Whether an authentic but malformed delivery is still acknowledged with 2xx (see each handler).
    acknowledge_malformed = True

    def authenticate(self, *, request, body: bytes, connection) -> str:
        """'' when the delivery is authentic, else the reason it is not (kept on the rejection counter)."""
        raise NotImplementedError

    def parse(self, *, request, body: bytes) -> list[InboundItem]:
        raise NotImplementedError

    def accepted(self) -> HttpResponse:
        return HttpResponse(status=200)

    def malformed(self, reason: str) -> HttpResponse:
        if self.acknowledge_malformed:
            return self.accepted()
        return JsonResponse({"code": "malformed_body", "message": reason, "extra": {}}, status=400)


class XeroHandler(WebhookHandler):
    """Xero: one HMAC key per app (settings.XERO_WEBHOOK_KEY); 200 with no body, 401 on a bad signature.

    A malformed delivery is acknowledged: Xero retries anything but 2xx for 24 hours with the same bytes and then
    disables the app's webhook for every organisation, so refusing it could only make things worse. It is kept
    as a rejected inbox row, so an operator sees it.
    """

    provider_id = "xero"
    required_fields = ("resourceId", "eventDateUtc", "eventType", "eventCategory", "tenantId")
    identity_fields = ("tenantId", "eventCategory", "eventType", "resourceId", "eventDateUtc")

    def authenticate(self, *, request, body, connection) -> str:
        key = getattr(settings, "XERO_WEBHOOK_KEY", "")
        if not key:
            return "XERO_WEBHOOK_KEY is not configured"
        # From META: request.headers would first copy every header into a new mapping, on every delivery.
        signature = request.META.get("HTTP_X_XERO_SIGNATURE", "")
        if not signature:
            return "missing x-xero-signature"
        if not signatures.xero_signature_valid(body=body, signature=signature, key=key):
            return "bad x-xero-signature"
        return ""

    def parse(self, *, request, body) -> list[InboundItem]:
        data = _json_object(body)
        events = data.get("events")
        if not isinstance(events, list):
            raise MalformedDelivery("The delivery has no 'events' list.")
        if len(events) > MAX_EVENTS_PER_DELIVERY:
            raise MalformedDelivery(f"The delivery has more than {MAX_EVENTS_PER_DELIVERY} events.")
        items = []
        for event in events:
            if not isinstance(event, dict) or not all(
                isinstance(event.get(name), str) and event.get(name) for name in self.required_fields
            ):
                # One unusable event does not sink the others; it is kept as rejected under its own hash.
                items.append(
                    InboundItem(kind="invalid", dedupe_key="invalid:" + sha256_hex(canonical_json(event)), body=event)
                )
                continue
            identity = "|".join(event[name] for name in self.identity_fields)
            items.append(
                InboundItem(
                    kind=f"{event['eventCategory']}.{event['eventType']}"[:60],
                    dedupe_key=sha256_hex(identity),
                    body=event,
                    account=event["tenantId"],
                )
            )
        return items


class MagentoHandler(WebhookHandler):
    """Adobe Commerce: the webhook signature when the connection stores the store's public key, else the URL
    token alone (signing is off by default in Commerce).

    Adobe Commerce webhooks are synchronous: the store waits for {"op": "success"} and a "required" hook blocks the
    shopper's action on anything else, so every authentic delivery, even a malformed one, is answered success.
    """

    provider_id = "magento"

    def authenticate(self, *, request, body, connection) -> str:
        public_key = webhook_secret_read(connection) if connection.has_webhook_secret else None
        if not public_key:
            return ""
        signature = request.headers.get("x-adobe-commerce-webhook-signature", "")
        if not signature:
            return "missing x-adobe-commerce-webhook-signature"
        if not signatures.adobe_commerce_signature_valid(body=body, signature=signature, public_key_pem=public_key):
            return "bad x-adobe-commerce-webhook-signature"
        return ""

    def parse(self, *, request, body) -> list[InboundItem]:
        data = _json_object(body)
        # Webhooks module: {"eventName": "observer.…", "data": {…}}; I/O Events: a CloudEvents envelope.
        kind = data.get("eventName") or data.get("event_name") or ""
        if not kind and isinstance(data.get("type"), str):
            kind = data["type"].removeprefix(ADOBE_EVENT_PREFIX)
        if not isinstance(kind, str) or not kind:
            raise MalformedDelivery("The delivery names no event (eventName or type).")
        event_id = data.get("event_id") or data.get("id")
        if isinstance(event_id, str | int) and str(event_id):
            dedupe_key = f"magento:{event_id}"
        else:
            dedupe_key = "magento:" + sha256_hex(body)
        return [InboundItem(kind=kind[:60], dedupe_key=dedupe_key, body=data)]

    def accepted(self) -> HttpResponse:
        return JsonResponse({"op": "success"})


def _header_secret_check(request, connection) -> str:
    secret = webhook_secret_read(connection) if connection.has_webhook_secret else None
    if not secret:
        return ""
    if not signatures.header_secret_valid(headers=request.headers, secret=secret):
        name, _ = signatures.header_secret_parse(secret)
        return f"missing or wrong {name} header"
    return ""


class Cin7Handler(WebhookHandler):
    """Cin7 Core signs nothing: the URL token, plus the header secret registered with the webhook when one is
    configured ("<Header-Name>: <value>", e.g. "Authorization: Bearer …" or an ExternalHeaders pair).

    Cin7 deactivates a webhook after six failed attempts; a malformed delivery is therefore acknowledged and
    kept as rejected rather than refused.
    """

    provider_id = "cin7"

    def authenticate(self, *, request, body, connection) -> str:
        return _header_secret_check(request, connection)

    def parse(self, *, request, body) -> list[InboundItem]:
        data = _json_object(body)
        kind = data.get("EventType")
        if not isinstance(kind, str) or not kind:
            raise MalformedDelivery("The delivery has no EventType.")
        return [
            InboundItem(
                kind=kind[:60], dedupe_key="cin7:" + sha256_hex(canonical_json(data))[:40], body=data, generational=True
            )
        ]


class GorgiasHandler(WebhookHandler):
    """Gorgias HTTP integrations: the URL token plus an optional secret header the integration sends.

    The integration's form decides the body; the event is its "event" field ("{{event}}" in the form) or the
    URL's ?event= query. JSON and form-encoded bodies are both accepted. Gorgias documents no disabling of
    failing integrations, so a malformed delivery is refused with 400: the integration's log then shows why.
    """

    provider_id = "gorgias"
    acknowledge_malformed = False

    def authenticate(self, *, request, body, connection) -> str:
        return _header_secret_check(request, connection)

    def parse(self, *, request, body) -> list[InboundItem]:
        content_type = request.content_type or ""
        if content_type == "application/x-www-form-urlencoded":
            try:
                data = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body)))
            except (UnicodeDecodeError, ValueError):
                raise MalformedDelivery("The form body cannot be decoded.") from None
        else:
            data = _json_object(body)
        kind = data.get("event") or request.GET.get("event") or ""
        if not isinstance(kind, str) or not kind:
            raise MalformedDelivery('The delivery names no event: add "event": "{{event}}" to the form.')
        kind = kind.replace("_", "-")
        return [
            InboundItem(
                kind=kind[:60],
                dedupe_key="gorgias:" + sha256_hex(canonical_json([kind, data]))[:40],
                body=data,
                generational=True,
            )
        ]


HANDLERS: dict[str, WebhookHandler] = {
    handler.provider_id: handler for handler in (XeroHandler(), MagentoHandler(), Cin7Handler(), GorgiasHandler())
}
