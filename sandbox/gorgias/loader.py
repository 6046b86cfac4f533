"""Load native Gorgias records, exactly as the API returns them, into a simulated helpdesk.

Accepted: one customer, ticket (messages embedded or not), message or integration; a list of them; a list envelope
`{"object": "list", "data": [...], "meta": {...}}`; or a bundle such as `payloads/gorgias_customer.json` whose
values are any of those (keys starting with "_" are notes, placeholder strings in example lists are skipped).
Records are stored unchanged and come back from the API identically.
"""

from django.db import transaction

from sandbox.gorgias.models import GorgiasRecord
from sandbox.gorgias.services import account_resolve, record_store

Kind = GorgiasRecord.Kind
COUNT_NAMES = {Kind.CUSTOMER: "customers", Kind.TICKET: "tickets", Kind.MESSAGE: "messages",
               Kind.INTEGRATION: "integrations"}  # fmt: skip


def classify(record: dict) -> str | None:
    """Which kind of Gorgias record this is, by the fields only that kind has."""
    if not isinstance(record, dict) or not isinstance(record.get("id"), int):
        return None
    if "ticket_id" in record and ("body_text" in record or "sender" in record):
        return Kind.MESSAGE
    if "subject" in record or "messages_count" in record or "messages" in record:
        return Kind.TICKET
    if "type" in record and ("http" in record or "deactivated_datetime" in record):
        return Kind.INTEGRATION
    if any(k in record for k in ("email", "channels", "firstname", "integrations")):
        return Kind.CUSTOMER
    return None


def load_records(*, account: str, data) -> dict:
    """Store native records in the helpdesk `account` (its domain); returns counts per kind."""
    target = account_resolve(account)
    counts: dict[str, int] = {}
    with transaction.atomic():
        _load(target, data, counts)
    if not any(counts.get(name) for name in COUNT_NAMES.values()):
        raise ValueError("no Gorgias records found in the data")
    return counts


def _bump(counts, name):
    counts[name] = counts.get(name, 0) + 1


def _load(account, data, counts):
    if isinstance(data, list):
        for item in data:
            if isinstance(item, dict | list):
                _load(account, item, counts)
            else:
                _bump(counts, "skipped")
        return
    if not isinstance(data, dict):
        raise ValueError(f"expected a Gorgias record, a list or a list envelope, got {type(data).__name__}")
    kind = classify(data)
    if kind is not None:
        _store(account, kind, data, counts)
        return
    if isinstance(data.get("data"), list) and ("meta" in data or data.get("object") == "list"):
        _load(account, data["data"], counts)
        return
    sections = {k: v for k, v in data.items() if not str(k).startswith("_") and isinstance(v, dict | list)}
    if not sections:
        raise ValueError("not a Gorgias record, list or list envelope")
    for section in sections.values():
        _load(account, section, counts)


def _store(account, kind, record, counts):
    if kind == Kind.TICKET and isinstance(record.get("messages"), list):
        # Messages live apart from their ticket (they have their own endpoint) and are joined back on GET.
        for message in record["messages"]:
            row = record_store(account=account, kind=Kind.MESSAGE, record=message)
            if row.parent_id != record["id"]:
                row.parent_id = record["id"]
                row.save(update_fields=["parent_id"])
            _bump(counts, COUNT_NAMES[Kind.MESSAGE])
        record = {k: v for k, v in record.items() if k != "messages"}
    record_store(account=account, kind=kind, record=record)
    _bump(counts, COUNT_NAMES[kind])
