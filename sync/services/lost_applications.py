"""Payments and credit-note allocations whose answer was lost after Xero applied them: found before sending again.

Neither has a natural key we set (unlike a contact's ContactNumber or an invoice's InvoiceNumber), and Xero
remembers an Idempotency-Key for a few minutes only, less than the retry schedule's later waits. So a job retried
after an attempt that may have been applied reads the document it was applied to first: the credit note's
Allocations (GET CreditNotes/{id}) or the invoice's Payments (GET Invoices?IDs=…). An allocation to the same
invoice for the same amount, or a payment of the same amount on the same date with the same reference, that no
other job of ours already accounts for (its Xero id is not in our cross-references), is the lost one.
"""

from decimal import Decimal, InvalidOperation

from connections.providers.xero import accounting
from sync.models import CrossReference, SyncJob

ENTITIES = ("allocation", "payment")
_ID = {"allocation": "AllocationID", "payment": "PaymentID"}


def lost_applications_find(client, jobs: list[SyncJob], *, entity: str) -> list[tuple[SyncJob, str, dict]]:
    """(job, Xero id, Xero's record) for each retried job whose payment or allocation Xero already holds."""
    suspects = [job for job in jobs if job.attempts > 0 and job.payload]
    if entity not in ENTITIES or not suspects:
        return []
    candidates = _applied(client, suspects, entity=entity)  # job pk → what its document holds
    ids = {str(record.get(_ID[entity]) or "") for records in candidates.values() for record in records}
    # What our own earlier jobs already account for is not this job's (two equal instalments on one day, say).
    taken = set(
        CrossReference.objects.filter(
            source_connection_id__in={job.source_connection_id for job in suspects}, entity=entity, xero_id__in=ids
        ).values_list("xero_id", flat=True)
    )
    found = []
    for job in suspects:
        for record in candidates.get(job.pk, ()):
            xero_id = str(record.get(_ID[entity]) or "")
            if xero_id and xero_id not in taken and _same(entity, job.payload, record):
                taken.add(xero_id)
                found.append((job, xero_id, record))
                break
    return found


def _applied(client, jobs: list[SyncJob], *, entity: str) -> dict[int, list[dict]]:
    if entity == "allocation":
        notes = {job.payload["CreditNoteID"] for job in jobs if job.payload.get("CreditNoteID")}
        allocations = {note: _credit_note(client, note).get("Allocations") or [] for note in notes}
        return {
            job.pk: [a for a in allocations.get(job.payload.get("CreditNoteID"), []) if not a.get("IsDeleted")]
            for job in jobs
        }
    on_invoices = {job.pk: (job.payload.get("Invoice") or {}).get("InvoiceID") for job in jobs}
    invoices = {i["InvoiceID"]: i for i in accounting.invoices_get(client, [i for i in on_invoices.values() if i])}
    notes = {
        note: _credit_note(client, note)
        for note in {(job.payload.get("CreditNote") or {}).get("CreditNoteID") for job in jobs} - {None}
    }
    held = {}
    for job in jobs:
        document = invoices.get(on_invoices[job.pk]) or notes.get(
            (job.payload.get("CreditNote") or {}).get("CreditNoteID")
        )
        held[job.pk] = (document or {}).get("Payments") or []
    return held


def _credit_note(client, credit_note_id: str) -> dict:
    body = accounting.parse(client.get(f"CreditNotes/{credit_note_id}"))
    return next(iter(body.get("CreditNotes") or []), {})


def _same(entity: str, payload: dict, record: dict) -> bool:
    if _amount(payload.get("Amount")) != _amount(record.get("Amount")):
        return False
    if entity == "allocation":
        return (payload.get("Invoice") or {}).get("InvoiceID") == (record.get("Invoice") or {}).get("InvoiceID")
    when = accounting.xero_datetime(record.get("Date"))
    return (when is not None and when.date().isoformat() == str(payload.get("Date", ""))[:10]) and (
        payload.get("Reference", "") or ""
    ) == (record.get("Reference") or "")


def _amount(value) -> Decimal | None:
    try:
        return Decimal(str(value)) if value is not None else None
    except InvalidOperation:
        return None
