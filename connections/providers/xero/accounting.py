"""Xero accounting operations the sync engine uses: batched saves with per-element results, and lookups.

Facts (research/xero.md §3): up to ~50 elements per request; with summarizeErrors=false Xero answers 200 with each
element's StatusAttributeString and ValidationErrors, in request order; an Idempotency-Key (≤ 128 chars) replays
the first answer for a few minutes. Amounts are parsed as Decimal, never float.
"""

import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from connections.providers.xero.client import XeroClient
from core import jsonexact
from core.errors import RequestError

# entity → (collection name in URLs and bodies, HTTP method that creates or updates, id field)
COLLECTIONS = {
    "contact": ("Contacts", "POST", "ContactID"),
    "invoice": ("Invoices", "POST", "InvoiceID"),
    "payment": ("Payments", "PUT", "PaymentID"),
    "credit_note": ("CreditNotes", "POST", "CreditNoteID"),
    "item": ("Items", "POST", "ItemID"),
    # Allocations are made on one credit note per request: PUT CreditNotes/{CreditNoteID}/Allocations.
    "allocation": ("Allocations", "PUT", "AllocationID"),
    # Notes go to each contact's own History (see _save_notes); the "id" of a note is its contact's.
    "contact_note": ("HistoryRecords", "PUT", "ContactID"),
}
BATCH_SIZE = 50
# Elements per request where Xero's endpoint names one document in its URL.
BATCH_SIZES = {"allocation": 1}


def batch_size(entity: str) -> int:
    """How many elements of `entity` one request can carry."""
    return BATCH_SIZES.get(entity, BATCH_SIZE)


# A `where` clause is a URL parameter: keep lookups well under common URL length limits.
LOOKUP_CHUNK = 40


@dataclass(frozen=True)
class ElementResult:
    ok: bool
    record: dict
    errors: tuple[str, ...]
    xero_id: str = ""


def parse(response) -> dict:
    """Xero's JSON with exact decimals."""
    return jsonexact.loads(response.content)


def _errors(element: dict) -> tuple[str, ...]:
    messages = [e.get("Message", "") for e in element.get("ValidationErrors") or [] if isinstance(e, dict)]
    return tuple(dict.fromkeys(m for m in messages if m))


def save_batch(client: XeroClient, entity: str, elements: list[dict], *, idempotency_key: str) -> list[ElementResult]:
    """Create or update up to 50 records in one request; one result per element, in order.

    Raises the client's errors for the request as a whole (retryable, auth, request).
    """
    if not elements:
        return []
    if len(elements) > batch_size(entity):
        raise ValueError(f"at most {batch_size(entity)} {entity} elements per Xero request")
    if entity == "contact_note":
        return _save_notes(client, elements, idempotency_key=idempotency_key)
    collection, method, id_field = COLLECTIONS[entity]
    params = {"summarizeErrors": "false"}
    if entity in ("invoice", "credit_note", "item"):
        params["unitdp"] = "4"  # keep 4-decimal unit prices as the source gave them
    path = collection
    if entity == "allocation":
        # The credit note is named in the URL, the allocation (invoice, amount, date) in the body.
        (element,) = elements
        path = f"CreditNotes/{element['CreditNoteID']}/Allocations"
        elements = [{k: v for k, v in element.items() if k != "CreditNoteID"}]
    response = client.request(
        method, path, params=params, json_body={collection: elements}, idempotency_key=idempotency_key
    )
    answered = parse(response).get(collection) or []
    if len(answered) != len(elements):
        raise ValueError(f"Xero answered {len(answered)} {collection} for {len(elements)} sent")
    results = []
    for element in answered:
        errors = _errors(element)
        ok = element.get("StatusAttributeString", "OK") != "ERROR" and not errors
        xero_id = str(element.get(id_field) or "") if ok else ""
        results.append(ElementResult(ok=ok, record=element, errors=errors, xero_id=xero_id))
    return results


def _save_notes(client: XeroClient, elements: list[dict], *, idempotency_key: str) -> list[ElementResult]:
    """Notes ({"ContactID", "Details"}) added to their contacts' history: one PUT Contacts/{id}/History per contact.

    Xero has no batch endpoint for history across records. A contact Xero refuses (gone, say) fails only its notes.
    """
    by_contact: dict[str, list[int]] = {}
    for index, element in enumerate(elements):
        by_contact.setdefault(element["ContactID"], []).append(index)
    results: list[ElementResult | None] = [None] * len(elements)
    for contact_id, indexes in by_contact.items():
        key = hashlib.sha256(f"{idempotency_key}:{contact_id}".encode()).hexdigest()
        records = [{"Details": elements[i]["Details"]} for i in indexes]
        try:
            response = client.request(
                "PUT", f"Contacts/{contact_id}/History", json_body={"HistoryRecords": records}, idempotency_key=key
            )
        except RequestError as exc:
            for i in indexes:
                results[i] = ElementResult(ok=False, record=elements[i], errors=(exc.message,))
            continue
        answered = parse(response).get("HistoryRecords") or []
        for i, record in zip(indexes, answered + [{}] * (len(indexes) - len(answered)), strict=True):
            results[i] = ElementResult(ok=bool(record), record=record, errors=(), xero_id=contact_id)
    return results


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def find_by(
    client: XeroClient, entity: str, field: str, values: Iterable[str], *, extra_params: dict | None = None
) -> dict[str, dict]:
    """Records whose `field` equals one of `values` (e.g. contacts by ContactNumber), keyed by that value.

    Used before re-creating anything whose earlier attempt may have been applied with its answer lost, and to read
    what Xero holds before an update that must not overwrite it. `extra_params` go on each request (`unitdp`).
    """
    collection, _, _ = COLLECTIONS[entity]
    wanted = [v for v in dict.fromkeys(values) if v]
    found: dict[str, dict] = {}
    for start in range(0, len(wanted), LOOKUP_CHUNK):
        chunk = wanted[start : start + LOOKUP_CHUNK]
        if entity == "invoice" and field == "InvoiceNumber":
            params = {"InvoiceNumbers": ",".join(chunk)}
        else:
            params = {"where": " OR ".join(f'{field}=="{_quote(v)}"' for v in chunk)}
        params.update(extra_params or {})
        page = 1
        while True:
            body = parse(client.get(collection, params={**params, "page": page, "pageSize": 1000}))
            records = body.get(collection) or []
            for record in records:
                key = record.get(field)
                if key in chunk and record.get("Status") not in ("DELETED", "VOIDED", "ARCHIVED"):
                    found.setdefault(key, record)
            if len(records) < 1000:
                break
            page += 1
    return found


# Reading invoices back (payment status) -------------------------------------------------------------------------

# IDs= is a URL parameter: past ~52 GUIDs Xero answers 404 (research/xero.md §4); staff advise fewer than 50.
INVOICE_IDS_PER_CALL = 45
_MS_DATE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")


def xero_datetime(value) -> datetime | None:
    """Xero's "/Date(1439434356790+0000)/" (milliseconds since the epoch, UTC) as an aware UTC datetime."""
    match = _MS_DATE.match(str(value or ""))
    if match is None:
        return None
    return datetime.fromtimestamp(int(match.group(1)) / 1000, tz=UTC)


def invoices_get(client: XeroClient, invoice_ids: Iterable[str]) -> list[dict]:
    """The invoices with these InvoiceIDs (payments and allocations included), 45 per request."""
    wanted = list(dict.fromkeys(i for i in invoice_ids if i))
    found: list[dict] = []
    for start in range(0, len(wanted), INVOICE_IDS_PER_CALL):
        chunk = wanted[start : start + INVOICE_IDS_PER_CALL]
        found += parse(client.get("Invoices", params={"IDs": ",".join(chunk)})).get("Invoices") or []
    return found


def invoices_modified_since(client: XeroClient, since: datetime, *, page_size: int = 1000) -> Iterator[dict]:
    """Sales invoices (ACCREC) created or changed after `since` (If-Modified-Since), a page at a time."""
    header = {"If-Modified-Since": since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
    page = 1
    while True:
        params = {"where": 'Type=="ACCREC"', "page": page, "pageSize": page_size}
        records = parse(client.get("Invoices", params=params, headers=header)).get("Invoices") or []
        yield from records
        if len(records) < page_size:
            return
        page += 1
