"""Invoice payment status, from Xero back to where the invoice came from.

For a sales invoice we created (CrossReference entity "invoice": source order → Xero invoice), a change Xero
reports as paid, partly paid (AmountPaid > 0 and AmountDue > 0) or voided becomes one write-back per change:

- Magento: the order is invoiced offline when paid in full (Magento's own "paid"; a part payment is a comment),
  then a comment with the posting policy's paid status (processing → complete once shipped); voided: a comment.
- Cin7 Core: a sale payment of the money received in Xero.
- Partner systems: an outbound webhook (invoice.paid, invoice.part_paid, invoice.voided).

Money the source itself told us about (payments and credit notes we pushed, a void we made for a cancelled order)
is not news to it: a change made only of our own writes stages nothing, so nothing echoes back and forth.
Changes arrive from Xero's INVOICE webhooks (sync.services.xero_events, batched by IDs) and from the polling safety
net below (If-Modified-Since from a watermark), and are deduplicated by the write-back key either way.
"""

import logging
from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import F
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from connections.models import Connection
from connections.providers.xero import accounting
from core.errors import ApplicationError, ProviderAuthError, RetryableError
from core.money import quantize
from sync.models import CrossReference, SourceCursor, SyncJob, WriteBack
from sync.services.write_backs import AttemptResult, write_back_stage

logger = logging.getLogger(__name__)

PAID, PART_PAID, VOIDED = "invoice.paid", "invoice.part_paid", "invoice.voided"
# Sources whose orders take a status write-back; partners ("rest") get webhooks instead.
ORDER_SOURCES = ("magento", "cin7")
POLL_OVERLAP = timedelta(minutes=5)


def _money(value) -> Decimal:
    return quantize(Decimal(str(value or 0)))


def invoice_status_event(invoice: dict) -> str | None:
    """The event a Xero invoice's state stands for, or None when it is neither paid, partly paid nor voided."""
    status = invoice.get("Status")
    if status == "VOIDED":
        return VOIDED
    if status == "PAID":
        return PAID
    if status == "AUTHORISED" and _money(invoice.get("AmountPaid")) > 0 and _money(invoice.get("AmountDue")) > 0:
        return PART_PAID
    return None


def invoices_status_apply(*, invoices: list[dict]) -> int:
    """Stage the write-backs owed for these Xero invoices (as just read from Xero). Returns how many were staged.

    Call inside the tenant's scope. Invoices we did not create, and changes made only of our own writes, stage
    nothing; the same change seen twice stages nothing the second time.
    """
    by_invoice: dict[str, list[CrossReference]] = defaultdict(list)
    wanted = {str(inv.get("InvoiceID")): inv for inv in invoices if invoice_status_event(inv)}
    for xref in CrossReference.objects.filter(entity="invoice", xero_id__in=list(wanted)).select_related(
        "source_connection"
    ):
        by_invoice[xref.xero_id].append(xref)
    if not by_invoice:
        return 0
    payment_ids = {str(p.get("PaymentID")) for inv in wanted.values() for p in inv.get("Payments") or []}
    note_ids = {str(c.get("CreditNoteID")) for inv in wanted.values() for c in inv.get("CreditNotes") or []}
    ours = set(
        CrossReference.objects.filter(
            entity__in=("payment", "credit_note"), xero_id__in=payment_ids | note_ids
        ).values_list("xero_id", flat=True)
    )
    order_ids = {xref.source_id for xrefs in by_invoice.values() for xref in xrefs}
    voided_by_us = set(
        SyncJob.objects.filter(
            operation=SyncJob.Operation.INVOICE_VOID, state=SyncJob.State.DONE, source_id__in=order_ids
        ).values_list("source_connection_id", "source_id")
    )
    told = _payments_already_written(order_ids | set(by_invoice))
    staged = 0
    for invoice_id, xrefs in by_invoice.items():
        invoice = wanted[invoice_id]
        event = invoice_status_event(invoice)
        foreign_payments = [p for p in invoice.get("Payments") or [] if str(p.get("PaymentID")) not in ours]
        foreign_notes = [c for c in invoice.get("CreditNotes") or [] if str(c.get("CreditNoteID")) not in ours]
        for xref in xrefs:
            connection = xref.source_connection
            if event == VOIDED:
                if (connection.pk, xref.source_id) in voided_by_us:
                    continue  # we voided it because the source cancelled the order
            elif not foreign_payments and not foreign_notes:
                continue  # every payment came from the source itself
            new_payments = [
                p for p in foreign_payments if str(p.get("PaymentID")) not in told[(connection.pk, xref.source_id)]
            ]
            staged += _stage(connection, xref, invoice, event, new_payments, foreign_payments)
    return staged


def _payments_already_written(record_ids) -> dict[tuple[int, str], set[str]]:
    """Xero payment ids already carried by an earlier write-back of each (connection, order). Order status
    write-backs are filed under the order id, partner webhooks under the invoice id: both carry the order id."""
    told: dict[tuple[int, str], set[str]] = defaultdict(set)
    rows = (
        WriteBack.objects.filter(source_id__in=record_ids)
        .exclude(state=WriteBack.State.DISCARDED)
        .values_list("connection_id", "source_id", "data")
    )
    for connection_id, source_id, data in rows:
        data = data or {}
        told[(connection_id, data.get("order_id", source_id))].update(str(p["id"]) for p in data.get("payments") or [])
    return told


def _stage(
    connection, xref: CrossReference, invoice: dict, event: str, payments: list[dict], foreign: list[dict]
) -> int:
    paid_dates = [accounting.xero_datetime(p.get("Date")) for p in payments]
    paid_at = max((d for d in paid_dates if d), default=None) or accounting.xero_datetime(
        invoice.get("FullyPaidOnDate")
    )
    amount_paid, amount_credited = _money(invoice.get("AmountPaid")), _money(invoice.get("AmountCredited"))
    data = {
        "invoice_id": str(invoice.get("InvoiceID")),
        "invoice_number": invoice.get("InvoiceNumber") or xref.xero_number,
        "order_id": xref.source_id,
        "reference": invoice.get("Reference") or "",
        "status": invoice.get("Status"),
        "currency": invoice.get("CurrencyCode") or "",
        "total": _money(invoice.get("Total")),
        "amount_paid": amount_paid,
        "amount_credited": amount_credited,
        "amount_due": _money(invoice.get("AmountDue")),
        # The money received in Xero that this write-back is the first to tell the source about.
        "amount": quantize(sum((_money(p.get("Amount")) for p in payments), Decimal("0"))),
        # All the money received in Xero that did not come from the source.
        "foreign_paid": quantize(sum((_money(p.get("Amount")) for p in foreign), Decimal("0"))),
        "paid_at": paid_at,
        "payments": [
            {
                "id": str(p.get("PaymentID")),
                "amount": _money(p.get("Amount")),
                "date": accounting.xero_datetime(p.get("Date")),
            }
            for p in payments
        ],
    }
    # One write-back per change: the same status with the same money is the same change, however often seen.
    key = f"{event}:{data['invoice_id']}:{amount_paid}:{amount_credited}"
    if connection.provider == "rest":
        from sync.services.partner_webhooks import partner_event_emit

        data["id"] = data["invoice_id"]
        return int(partner_event_emit(connection=connection, event=event, data=data, key=key) is not None)
    if connection.provider not in ORDER_SOURCES or (event == VOIDED and connection.provider == "cin7"):
        return 0  # nothing this source can be told (Cin7 sales are voided in Cin7, not from Xero)
    _, created = write_back_stage(
        connection=connection,
        kind=WriteBack.Kind.ORDER_STATUS,
        event=event,
        key=key,
        source_id=xref.source_id,
        data=data,
    )
    return int(created)


# Writing an order's status to its source ---------------------------------------------------------------------


def order_status_write(write_back: WriteBack, *, transport=None, context: dict) -> AttemptResult:
    """One attempt of an order status write-back (sync.services.write_backs calls it).

    Source errors waiting can fix (outages, rate limits, expired credentials) are retried on the shared
    schedule; refusals (the order is gone, the source cannot do it) are dead letters with the source's reason.
    """
    from connections.sources import source_adapter
    from mappings.policies import order_paid_status

    connection = write_back.connection
    adapter = context.get(("adapter", connection.pk))
    if adapter is None:
        adapter = context[("adapter", connection.pk)] = source_adapter(connection, transport=transport)
    data = write_back.data
    number = data.get("invoice_number") or data["invoice_id"]
    amount = Decimal(str(data.get("amount") or 0))
    paid_at = datetime.fromisoformat(data["paid_at"]) if data.get("paid_at") else timezone.now()
    try:
        if connection.provider == "cin7":
            if amount > 0:
                # The reference is what Cin7 dedupes a retried payment by: stable for this write-back.
                adapter.order_mark_paid(
                    write_back.source_id, amount=amount, paid_at=paid_at, reference=f"Xero {number} #{write_back.pk}"
                )
            return AttemptResult(ok=True, excerpt=f"sale payment {data.get('currency', '')} {amount}")
        if write_back.event == VOIDED:
            adapter.order_add_comment(write_back.source_id, comment=f"Xero invoice {number} was voided.")
            return AttemptResult(ok=True, excerpt="comment added")
        if write_back.event == PAID:
            # Magento noted earlier part payments without invoicing; paid in full, it invoices what is still due.
            amount = Decimal(str(data.get("foreign_paid") or amount))
        if amount > 0:
            adapter.order_mark_paid(write_back.source_id, amount=amount, paid_at=paid_at, reference=number)
        if write_back.event == PAID:
            status = order_paid_status(source_connection=connection) or None
            comment = f"Xero invoice {number} is paid in full ({data.get('currency', '')} {data['amount_paid']})."
            adapter.order_add_comment(write_back.source_id, comment=comment, status=status)
            return AttemptResult(ok=True, excerpt=f"invoiced and commented, status {status or 'unchanged'}")
        return AttemptResult(ok=True, excerpt=f"part payment {data.get('currency', '')} {amount} noted")
    except RetryableError as exc:
        return AttemptResult(ok=False, error=exc.message, code=exc.code, retry_after=exc.retry_after)
    except ProviderAuthError as exc:
        # The source needs re-authorising; waiting (on the shared schedule) is what can fix it.
        return AttemptResult(ok=False, error=exc.message, code=exc.code)
    except ApplicationError as exc:
        return AttemptResult(ok=False, error=exc.message, code=exc.code, retryable=False)


# The polling safety net --------------------------------------------------------------------------------------


def xero_invoices_poll(*, xero_connection: Connection, transport=None) -> dict:
    """Read the sales invoices changed in Xero since the watermark and stage what is owed (webhooks can be missed).

    Call inside the tenant's scope. The first poll starts from the tenant's first invoice cross-reference: before
    it there is nothing of ours to find. Returns {"seen", "staged", "watermark"}.
    """
    from connections.providers.xero.tokens import xero_client_for

    cursor, _ = SourceCursor.objects.get_or_create(
        connection=xero_connection, entity="invoice", defaults={"tenant_id": xero_connection.tenant_id}
    )
    if cursor.watermark is not None:
        since = cursor.watermark - POLL_OVERLAP
    else:
        first = CrossReference.objects.filter(entity="invoice").order_by("synced_at").first()
        if first is None:
            return {"seen": 0, "staged": 0, "watermark": None}
        since = first.synced_at - POLL_OVERLAP
    seen = staged = 0
    newest = None
    page: list[dict] = []
    with xero_client_for(xero_connection, transport=transport) as client:
        # HTTP outside any transaction; each page is staged in its own.
        for invoice in accounting.invoices_modified_since(client, since):
            seen += 1
            updated = accounting.xero_datetime(invoice.get("UpdatedDateUTC"))
            if updated is not None and (newest is None or updated > newest):
                newest = updated
            page.append(invoice)
            if len(page) >= 200:
                staged += _stage_page(page)
                page = []
    staged += _stage_page(page)
    if newest is not None:
        SourceCursor.objects.filter(pk=cursor.pk).update(watermark=Greatest(Coalesce(F("watermark"), newest), newest))
    SourceCursor.objects.filter(pk=cursor.pk).update(last_polled_at=timezone.now())
    cursor.refresh_from_db(fields=["watermark"])
    return {"seen": seen, "staged": staged, "watermark": cursor.watermark.isoformat() if cursor.watermark else None}


def _stage_page(invoices: list[dict]) -> int:
    if not invoices:
        return 0
    with transaction.atomic():
        return invoices_status_apply(invoices=invoices)


def xero_invoices_poll_due(*, transport=None) -> dict:
    """Poll every active Xero connection (the scheduler's entry point); one failure does not stop the others."""
    from sync.services.polling import connections_poll_each

    return connections_poll_each(
        providers=["xero"], poll=lambda connection: xero_invoices_poll(xero_connection=connection, transport=transport)
    )
