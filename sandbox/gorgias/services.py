"""Writes to the simulated Gorgias helpdesk: accounts, the API key's leaky bucket, and native records."""

import json
import math
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from sandbox.gorgias.models import GorgiasAccount, GorgiasRecord

Kind = GorgiasRecord.Kind

# Leaky bucket for API-key integrations: 40 calls, leaking 40 per 20 s = 2 per second (sources.md §2.5).
BUCKET_SIZE = 40
LEAK_PER_SECOND = 2.0


def account_ensure(*, domain: str) -> GorgiasAccount:
    """Return the simulated helpdesk `domain`, creating it with an email and API key if new (idempotent)."""
    domain = domain.strip().lower()
    if not domain:
        raise ValueError("a Gorgias sandbox account needs a domain")
    account, _ = GorgiasAccount.objects.get_or_create(
        domain=domain, defaults={"email": f"api@{domain}.example.com", "api_key": secrets.token_hex(32)}
    )
    return account


def account_credentials(*, account: GorgiasAccount) -> dict:
    """Base URL (the account's domain is part of the path), domain, email and API key."""
    return {
        "base_url": f"{settings.SITE_URL.rstrip('/')}/sandbox/gorgias/{account.domain}/api/",
        "domain": account.domain,
        "email": account.email,
        "api_key": account.api_key,
    }


def account_resolve(account) -> GorgiasAccount:
    if isinstance(account, GorgiasAccount):
        return account
    found = GorgiasAccount.objects.filter(domain=str(account).strip().lower()).first()
    if found is None:
        raise ValueError(f"no Gorgias sandbox account {account!r}; create it with `manage.py sandbox_gorgias_account`")
    return found


@dataclass(frozen=True)
class BucketState:
    allowed: bool
    used: int
    retry_after: int


# The bucket's clock. Tests that count exact levels stop it (a slow machine would otherwise leak between calls).
bucket_clock = timezone.now


def bucket_hit(*, account: GorgiasAccount) -> BucketState:
    """Pour one call into the account's leaky bucket, or refuse it when the bucket is full.

    The level drains continuously at 2 calls a second; a refused call adds nothing. Row-locked, so concurrent
    requests from several processes see one bucket.
    """
    with transaction.atomic():
        row = GorgiasAccount.objects.select_for_update().get(pk=account.pk)
        now = bucket_clock()
        level = row.bucket_level
        if row.bucket_updated_at is not None:
            elapsed = max(0.0, (now - row.bucket_updated_at).total_seconds())
            level = max(0.0, level - elapsed * LEAK_PER_SECOND)
        if level + 1 > BUCKET_SIZE:
            row.bucket_level, row.bucket_updated_at = level, now
            row.save(update_fields=["bucket_level", "bucket_updated_at"])
            wait = math.ceil((level + 1 - BUCKET_SIZE) / LEAK_PER_SECOND)
            return BucketState(allowed=False, used=math.ceil(level), retry_after=max(1, wait))
        row.bucket_level, row.bucket_updated_at = level + 1, now
        row.save(update_fields=["bucket_level", "bucket_updated_at"])
        return BucketState(allowed=True, used=math.ceil(row.bucket_level - 1e-9), retry_after=0)


def gorgias_datetime(value: datetime) -> str:
    """Gorgias' timestamps: ISO-8601 with microseconds and no zone (UTC), e.g. 2019-04-13T03:27:56.973873."""
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds")


def parse_datetime(value) -> datetime | None:
    if not value or not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def next_id(*, account: GorgiasAccount, kind: str) -> int:
    """The next id of a kind in this helpdesk (ids are integers that grow)."""
    top = GorgiasRecord.objects.filter(account=account, kind=kind).aggregate(top=Max("record_id"))["top"]
    return (top or 1000) + 1


def _columns(kind: str, record: dict) -> dict:
    now = timezone.now()
    created = parse_datetime(record.get("created_datetime")) or now
    updated = parse_datetime(record.get("updated_datetime")) or created
    columns = {"created_at": created, "updated_at": updated, "email": "", "name": "", "external_id": ""}
    columns["parent_id"] = None
    if kind == Kind.CUSTOMER:
        columns |= {"email": (record.get("email") or "")[:255], "name": (record.get("name") or "")[:255]}
        columns["external_id"] = str(record.get("external_id") or "")[:255]
    elif kind == Kind.TICKET:
        columns["parent_id"] = (record.get("customer") or {}).get("id")
        columns["name"] = (record.get("subject") or "")[:255]
    elif kind == Kind.MESSAGE:
        columns["parent_id"] = record.get("ticket_id")
    elif kind == Kind.INTEGRATION:
        columns["name"] = (record.get("name") or "")[:255]
        columns["external_id"] = str(record.get("type") or "")[:255]
    return columns


def record_store(*, account: GorgiasAccount, kind: str, record: dict) -> GorgiasRecord:
    """Store one native record unchanged (replacing the one with the same id)."""
    if not isinstance(record.get("id"), int):
        raise ValueError(f"a Gorgias {kind} needs an integer id")
    row, _ = GorgiasRecord.objects.update_or_create(
        account=account,
        kind=kind,
        record_id=record["id"],
        defaults={"body": json.dumps(record, ensure_ascii=False, separators=(",", ":")), **_columns(kind, record)},
    )
    return row


def record_rows(*, account: GorgiasAccount, kind: str, records: list[dict]) -> list[GorgiasRecord]:
    """Unsaved rows for bulk_create (generators)."""
    return [
        GorgiasRecord(
            account=account,
            kind=kind,
            record_id=r["id"],
            body=json.dumps(r, ensure_ascii=False, separators=(",", ":")),
            **_columns(kind, r),
        )
        for r in records
    ]


def record_get(*, account: GorgiasAccount, kind: str, record_id) -> dict | None:
    body = (
        GorgiasRecord.objects.filter(account=account, kind=kind, record_id=record_id)
        .values_list("body", flat=True)
        .first()
    )
    return json.loads(body) if body else None


class GorgiasApiError(Exception):
    """An error answered in Gorgias' shape: {"error": {"msg": ..., "data": {...}}}."""

    def __init__(self, status: int, msg: str, data: dict | None = None, headers: dict | None = None):
        super().__init__(msg)
        self.status, self.msg, self.data, self.headers = status, msg, data, headers or {}

    def body(self) -> dict:
        error = {"msg": self.msg}
        if self.data:
            error["data"] = self.data
        return {"error": error}


def not_found() -> GorgiasApiError:
    return GorgiasApiError(404, "Resource not found.")


def customer_create(*, account: GorgiasAccount, data: dict) -> dict:
    """POST /api/customers. Gorgias refuses a second customer with the same email (409)."""
    email = (data.get("email") or "").strip()
    if email and GorgiasRecord.objects.filter(account=account, kind=Kind.CUSTOMER, email__iexact=email).exists():
        raise GorgiasApiError(409, "The resource already exists.")
    now = gorgias_datetime(timezone.now())
    customer = {
        "id": next_id(account=account, kind=Kind.CUSTOMER),
        "created_datetime": now,
        "updated_datetime": now,
        "email": email or None,
        "external_id": data.get("external_id"),
        "firstname": data.get("firstname") or "",
        "lastname": data.get("lastname") or "",
        "name": data.get("name") or " ".join(p for p in (data.get("firstname"), data.get("lastname")) if p) or None,
        "language": data.get("language"),
        "timezone": data.get("timezone"),
        "note": data.get("note"),
        "channels": data.get("channels") or ([{"type": "email", "address": email, "preferred": True}] if email else []),
        "data": data.get("data") or {},
        "integrations": {},
        "meta": data.get("meta") or {},
    }
    record_store(account=account, kind=Kind.CUSTOMER, record=customer)
    return customer


def customer_update(*, account: GorgiasAccount, customer_id: int, data: dict) -> dict:
    """PUT /api/customers/{id}: a partial update (only the fields given change)."""
    customer = record_get(account=account, kind=Kind.CUSTOMER, record_id=customer_id)
    if customer is None:
        raise not_found()
    writable = ("email", "external_id", "firstname", "lastname", "name", "language", "timezone", "note", "channels",
                "data", "meta")  # fmt: skip
    customer |= {k: v for k, v in data.items() if k in writable}
    customer["updated_datetime"] = gorgias_datetime(timezone.now())
    record_store(account=account, kind=Kind.CUSTOMER, record=customer)
    return customer


def _ticket_with_messages(account, ticket: dict) -> dict:
    messages = [
        json.loads(body)
        for body in GorgiasRecord.objects.filter(account=account, kind=Kind.MESSAGE, parent_id=ticket["id"])
        .order_by("created_at", "record_id")
        .values_list("body", flat=True)
    ]
    return ticket | {"messages": messages}


def _message(account, ticket: dict, data: dict, when: str) -> dict:
    sender = data.get("sender") or {}
    return {
        "id": next_id(account=account, kind=Kind.MESSAGE),
        "uri": None,
        "ticket_id": ticket["id"],
        "channel": data.get("channel") or ticket.get("channel") or "email",
        "via": data.get("via") or "api",
        "from_agent": bool(data.get("from_agent")),
        "sender": {"id": sender.get("id"), "email": sender.get("email"), "name": sender.get("name")},
        "receiver": data.get("receiver"),
        "subject": data.get("subject") or ticket.get("subject"),
        "body_text": data.get("body_text") or "",
        "body_html": data.get("body_html") or "",
        "created_datetime": when,
        "sent_datetime": when,
    }


@transaction.atomic
def ticket_create(*, account: GorgiasAccount, data: dict) -> dict:
    """POST /api/tickets: a ticket with its first messages; fires `ticket-created`."""
    from sandbox.gorgias.webhooks import ticket_event_fire

    messages = data.get("messages") or []
    errors = {}
    if not messages:
        errors["messages"] = ["Missing data for required field."]
    elif not all(isinstance(m, dict) and (m.get("sender") or {}).get("email") for m in messages):
        errors["messages"] = [{"sender": ["Missing data for required field."]}]
    if errors:
        raise GorgiasApiError(400, "Failed to create ticket", errors)
    customer_ref = data.get("customer") or messages[0].get("sender") or {}
    customer = None
    if customer_ref.get("id"):
        customer = record_get(account=account, kind=Kind.CUSTOMER, record_id=customer_ref["id"])
    elif customer_ref.get("email"):
        row = GorgiasRecord.objects.filter(
            account=account, kind=Kind.CUSTOMER, email__iexact=customer_ref["email"]
        ).first()
        customer = json.loads(row.body) if row else customer_create(account=account, data=customer_ref)
    when = gorgias_datetime(timezone.now())
    ticket_id = next_id(account=account, kind=Kind.TICKET)
    ticket = {
        "id": ticket_id,
        "uri": f"/api/tickets/{ticket_id}/",
        "external_id": data.get("external_id"),
        "language": data.get("language"),
        "status": data.get("status") or "open",
        "priority": data.get("priority") or "normal",
        "channel": data.get("channel") or "email",
        "via": data.get("via") or "api",
        "from_agent": bool(data.get("from_agent")),
        "customer": _customer_ref(customer),
        "assignee_user": None,
        "assignee_team": None,
        "subject": data.get("subject"),
        "excerpt": (messages[0].get("body_text") or "")[:120],
        "tags": data.get("tags") or [],
        "messages_count": len(messages),
        "created_datetime": when,
        "opened_datetime": when,
        "last_received_message_datetime": when,
        "last_message_datetime": when,
        "updated_datetime": when,
        "closed_datetime": None,
        "snooze_datetime": None,
        "spam": False,
        "meta": data.get("meta") or {},
    }
    record_store(account=account, kind=Kind.TICKET, record=ticket)
    for message in messages:
        record_store(account=account, kind=Kind.MESSAGE, record=_message(account, ticket, message, when))
    full = _ticket_with_messages(account, ticket)
    ticket_event_fire(account=account, event="ticket-created", ticket=full)
    return full


def _customer_ref(customer: dict | None) -> dict | None:
    if not customer:
        return None
    return {k: customer.get(k) for k in ("id", "email", "name", "firstname", "lastname")}


@transaction.atomic
def ticket_update(*, account: GorgiasAccount, ticket_id: int, data: dict) -> dict:
    """PUT /api/tickets/{id}: partial update (status, subject, tags, …); fires `ticket-updated`."""
    from sandbox.gorgias.webhooks import ticket_event_fire

    ticket = record_get(account=account, kind=Kind.TICKET, record_id=ticket_id)
    if ticket is None:
        raise not_found()
    for field in ("status", "priority", "subject", "tags", "language", "external_id", "meta", "spam"):
        if field in data:
            ticket[field] = data[field]
    now = gorgias_datetime(timezone.now())
    ticket["updated_datetime"] = now
    if data.get("status") == "closed":
        ticket["closed_datetime"] = now
    record_store(account=account, kind=Kind.TICKET, record=ticket)
    full = _ticket_with_messages(account, ticket)
    ticket_event_fire(account=account, event="ticket-updated", ticket=full)
    return full


def ticket_get(*, account: GorgiasAccount, ticket_id: int) -> dict:
    ticket = record_get(account=account, kind=Kind.TICKET, record_id=ticket_id)
    if ticket is None:
        raise not_found()
    return _ticket_with_messages(account, ticket)


@transaction.atomic
def ticket_message_create(*, account: GorgiasAccount, ticket_id: int, data: dict) -> dict:
    """POST /api/tickets/{id}/messages; fires `ticket-message-created`."""
    from sandbox.gorgias.webhooks import ticket_event_fire

    ticket = record_get(account=account, kind=Kind.TICKET, record_id=ticket_id)
    if ticket is None:
        raise not_found()
    if not (data.get("sender") or {}).get("email") and not (data.get("sender") or {}).get("id"):
        raise GorgiasApiError(400, "Failed to create message", {"sender": ["Missing data for required field."]})
    when = gorgias_datetime(timezone.now())
    message = _message(account, ticket, data, when)
    record_store(account=account, kind=Kind.MESSAGE, record=message)
    ticket["messages_count"] = int(ticket.get("messages_count") or 0) + 1
    ticket["updated_datetime"] = ticket["last_message_datetime"] = when
    record_store(account=account, kind=Kind.TICKET, record=ticket)
    ticket_event_fire(account=account, event="ticket-message-created", ticket=_ticket_with_messages(account, ticket))
    return message


def integration_create(*, account: GorgiasAccount, data: dict) -> dict:
    """POST /api/integrations: for an HTTP integration, `http.url` is required."""
    if data.get("type") == "http" and not (data.get("http") or {}).get("url"):
        raise GorgiasApiError(
            400, "Failed to create integration", {"http": {"url": ["Missing data for required field."]}}
        )
    if not data.get("type") or not data.get("name"):
        missing = {f: ["Missing data for required field."] for f in ("type", "name") if not data.get(f)}
        raise GorgiasApiError(400, "Failed to create integration", missing)
    now = gorgias_datetime(timezone.now())
    integration = {
        "id": next_id(account=account, kind=Kind.INTEGRATION),
        "type": data["type"],
        "name": data["name"],
        "description": data.get("description"),
        "http": data.get("http"),
        "created_datetime": now,
        "updated_datetime": now,
        "deactivated_datetime": None,
    }
    record_store(account=account, kind=Kind.INTEGRATION, record=integration)
    return integration


def integration_update(*, account: GorgiasAccount, integration_id: int, data: dict) -> dict:
    integration = record_get(account=account, kind=Kind.INTEGRATION, record_id=integration_id)
    if integration is None:
        raise not_found()
    integration |= {k: v for k, v in data.items() if k in ("name", "description", "http", "deactivated_datetime")}
    integration["updated_datetime"] = gorgias_datetime(timezone.now())
    record_store(account=account, kind=Kind.INTEGRATION, record=integration)
    return integration


def integration_delete(*, account: GorgiasAccount, integration_id: int) -> None:
    deleted, _ = GorgiasRecord.objects.filter(account=account, kind=Kind.INTEGRATION, record_id=integration_id).delete()
    if not deleted:
        raise not_found()
