"""Gorgias HTTP integrations: the only outbound webhooks Gorgias has (sources.md §2.4).

An integration `{type: "http", http: {url, method, headers, form, request_content_type, triggers}}` fires a
templated request when a ticket event it is subscribed to happens (`ticket-created`, `ticket-updated`,
`ticket-message-created`, …; the older underscore spelling is accepted). There is no signature: the receiver
trusts a token in the URL and/or a secret header it configured. `{{ticket.id}}`-style placeholders in the URL,
headers and form are filled from the ticket.

Retries are not documented by Gorgias; the simulator retries a failed request 1, 5 and 30 minutes later and then
gives up (our choice, so a receiver's retry handling can be exercised).
"""

import json
import re
from datetime import timedelta
from urllib.parse import urlencode

import httpx
from django.db import transaction
from django.utils import timezone

from sandbox.gorgias.models import GorgiasAccount, GorgiasRecord, GorgiasWebhookDelivery

Kind = GorgiasRecord.Kind
TICKET_EVENTS = (
    "ticket-created",
    "ticket-updated",
    "ticket-message-created",
    "ticket-self-unsnoozed",
    "ticket-message-failed",
)
RETRY_DELAYS = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30))
PLACEHOLDER = re.compile(r"\{\{\s*([\w.]+)\s*\}\}")


def _lookup(context: dict, path: str):
    value = context
    for part in path.split("."):
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return ""
    return "" if value is None else value


def render(template, context: dict):
    """Fill `{{a.b}}` placeholders in strings, recursively through dicts and lists."""
    if isinstance(template, str):
        whole = PLACEHOLDER.fullmatch(template.strip())
        if whole:
            # A lone placeholder keeps the value's JSON type (an id stays a number).
            return _lookup(context, whole.group(1))
        return PLACEHOLDER.sub(lambda m: str(_lookup(context, m.group(1))), template)
    if isinstance(template, dict):
        return {key: render(value, context) for key, value in template.items()}
    if isinstance(template, list):
        return [render(value, context) for value in template]
    return template


def _subscribed(http: dict, event: str) -> bool:
    triggers = http.get("triggers") or {}
    return bool(triggers.get(event) or triggers.get(event.replace("-", "_")))


def ticket_event_fire(*, account: GorgiasAccount, event: str, ticket: dict) -> int:
    """Queue the rendered request of every active HTTP integration subscribed to `event`; returns how many."""
    context = {"ticket": ticket, "event": event}
    now = timezone.now()
    deliveries = []
    for body in (
        GorgiasRecord.objects.filter(account=account, kind=Kind.INTEGRATION)
        .order_by("pk")
        .values_list("body", flat=True)
    ):
        integration = json.loads(body)
        http = integration.get("http") or {}
        if integration.get("type") != "http" or integration.get("deactivated_datetime") or not http.get("url"):
            continue
        if not _subscribed(http, event):
            continue
        method = (http.get("method") or "POST").upper()
        url = render(http["url"], context)
        headers = {str(k): str(v) for k, v in render(http.get("headers") or {}, context).items()}
        form = render(http.get("form") or {}, context)
        content_type = http.get("request_content_type") or "application/json"
        if method == "GET":
            url, content = (url + ("&" if "?" in url else "?") + urlencode(form)) if form else url, ""
        elif content_type == "application/x-www-form-urlencoded":
            content = urlencode(form)
        else:
            content = json.dumps(form, ensure_ascii=False)
        headers.setdefault("Content-Type", content_type)
        deliveries.append(
            GorgiasWebhookDelivery(
                account=account,
                integration_id=integration["id"],
                event=event,
                method=method,
                url=url,
                headers=headers,
                content=content,
                next_attempt_at=now,
            )
        )
    GorgiasWebhookDelivery.objects.bulk_create(deliveries)
    return len(deliveries)


def webhook_deliveries_deliver(*, client: httpx.Client, now=None, account: GorgiasAccount | None = None) -> dict:
    """Send every request due at `now` through `client`; failures are retried on RETRY_DELAYS, then failed.

    No worker needed: tests and demos call this in-process. Returns {"delivered", "retrying", "failed"}.
    """
    now = now or timezone.now()
    due = GorgiasWebhookDelivery.objects.filter(
        status=GorgiasWebhookDelivery.Status.PENDING, next_attempt_at__lte=now
    ).order_by("pk")
    if account is not None:
        due = due.filter(account=account)
    counts = {"delivered": 0, "retrying": 0, "failed": 0}
    for pk in list(due.values_list("pk", flat=True)):
        outcome = _deliver_one(pk, client=client, now=now)
        if outcome:
            counts[outcome] += 1
    return counts


def _deliver_one(pk: int, *, client: httpx.Client, now) -> str | None:
    with transaction.atomic():
        delivery = (
            GorgiasWebhookDelivery.objects.select_for_update(skip_locked=True)
            .filter(pk=pk, status=GorgiasWebhookDelivery.Status.PENDING)
            .first()
        )
        if delivery is None:
            return None
        delivery.attempts += 1
        error, code = "", None
        try:
            response = client.request(
                delivery.method,
                delivery.url,
                content=delivery.content.encode() if delivery.content else None,
                headers=delivery.headers,
                timeout=10,
            )
            code = response.status_code
            if not 200 <= code < 300:
                error = f"HTTP {code}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        delivery.last_status_code, delivery.last_error = code, error
        if not error:
            delivery.status, delivery.next_attempt_at, outcome = "delivered", None, "delivered"
        elif delivery.attempts <= len(RETRY_DELAYS):
            delivery.next_attempt_at, outcome = now + RETRY_DELAYS[delivery.attempts - 1], "retrying"
        else:
            delivery.status, delivery.next_attempt_at, outcome = "failed", None, "failed"
        delivery.save()
        return outcome
