"""Payments and credit note allocations: money applied to documents, never more than is owed."""

from django.db import transaction
from django.utils import timezone

from sandbox.xero.errors import ElementInvalid, NotFound
from sandbox.xero.models import Account, Allocation, CreditNote, Invoice, Organisation, Payment
from sandbox.xero.services.documents import _decimal, document_settle, money
from sandbox.xero.services.history import history_add
from sandbox.xero.services.rows import new_row
from sandbox.xero.services.workspace import Workspace, workspace_single
from sandbox.xero.wire import parse_date

PAYMENT_TYPES = {
    "ACCREC": "ACCRECPAYMENT",
    "ACCPAY": "ACCPAYPAYMENT",
    "ACCRECCREDIT": "ARCREDITPAYMENT",
    "ACCPAYCREDIT": "APCREDITPAYMENT",
}


def _find_document(*, ws: Workspace, data: dict):
    invoice_ref, credit_ref = data.get("Invoice"), data.get("CreditNote")
    if isinstance(invoice_ref, dict) and (invoice_ref.get("InvoiceID") or invoice_ref.get("InvoiceNumber")):
        if invoice_ref.get("InvoiceID"):
            return ws.document_by_id(Invoice, invoice_ref["InvoiceID"])  # a malformed GUID finds nothing
        return next(iter(ws.documents_numbered(Invoice, invoice_ref["InvoiceNumber"])), None)
    if isinstance(credit_ref, dict) and (credit_ref.get("CreditNoteID") or credit_ref.get("CreditNoteNumber")):
        if credit_ref.get("CreditNoteID"):
            return ws.document_by_id(CreditNote, credit_ref["CreditNoteID"], strict=True)
        # By number a credit note is found whatever its status.
        query = CreditNote.objects.select_for_update().filter(org=ws.org)
        found = query.filter(credit_note_number=credit_ref["CreditNoteNumber"]).first()
        return None if found is None else ws.adopt(found)
    raise ElementInvalid("You must specify an Invoice or CreditNote to apply the payment to.")


def _find_account(*, ws: Workspace, ref) -> Account:
    if not isinstance(ref, dict) or not (ref.get("AccountID") or ref.get("Code")):
        raise ElementInvalid("You must specify an Account (AccountID or Code) for the payment.")
    account = ws.account_by_id(ref["AccountID"]) if ref.get("AccountID") else ws.account_by_code(ref["Code"])
    if account is None or account.status != "ACTIVE":
        raise ElementInvalid("Account could not be found")
    if account.type != "BANK" and not account.enable_payments:
        raise ElementInvalid(
            "Payments can only be made to BANK accounts or accounts with EnablePaymentsToAccount set to true."
        )
    return account


def payments_prefetch(*, ws: Workspace, elements: list) -> None:
    """Read (and lock) up front the invoices and credit notes a batch of payments applies to (not their lines)."""
    ws.lock_documents = True
    ws.read_lines = False
    invoices = [e["Invoice"] for e in elements if isinstance(e, dict) and isinstance(e.get("Invoice"), dict)]
    ws.documents_load(
        Invoice,
        ids=[r["InvoiceID"] for r in invoices if r.get("InvoiceID")],
        numbers=[r["InvoiceNumber"] for r in invoices if r.get("InvoiceNumber") and not r.get("InvoiceID")],
    )
    notes = [e["CreditNote"] for e in elements if isinstance(e, dict) and isinstance(e.get("CreditNote"), dict)]
    if notes:
        ws.documents_load(CreditNote, ids=[r["CreditNoteID"] for r in notes if r.get("CreditNoteID")])


def payment_create(*, org: Organisation, data: dict, ws: Workspace | None = None) -> Payment:
    """Apply a payment to an AUTHORISED invoice or credit note; it becomes PAID when nothing is left owing."""
    if not isinstance(data, dict):
        raise ElementInvalid("A payment must be an object.")
    if ws is not None:
        return _payment_create(ws=ws, data=data)
    with transaction.atomic(), workspace_single(org, None) as own:
        own.lock_documents = True
        return _payment_create(ws=own, data=data)


def _payment_create(*, ws: Workspace, data: dict) -> Payment:
    org = ws.org
    doc = _find_document(ws=ws, data=data)
    if doc is None:
        raise ElementInvalid("The document to apply the payment to could not be found.")
    account = _find_account(ws=ws, ref=data.get("Account"))
    if doc.status != "AUTHORISED":
        raise ElementInvalid("Payments can only be made against AUTHORISED documents.")
    if data.get("Amount") is None:
        raise ElementInvalid("Payment amount must be specified.")
    amount = money(_decimal(data["Amount"], "Amount"))
    if amount <= 0:
        raise ElementInvalid("Payment amount must be greater than zero.")
    outstanding = doc.total - doc.amount_paid - doc.amount_credited
    if amount > outstanding:
        raise ElementInvalid("Payment amount exceeds the amount outstanding on this document")
    try:
        paid_on = parse_date(data["Date"]) if data.get("Date") else timezone.now().date()
    except ValueError:
        raise ElementInvalid("A date is not in a valid format (use YYYY-MM-DD).") from None
    is_invoice = isinstance(doc, Invoice)
    payment = new_row(
        Payment,
        org_id=org.pk,
        invoice_id=doc.pk if is_invoice else None,
        credit_note_id=None if is_invoice else doc.pk,
        account_id=account.pk,
        date=paid_on,
        amount=amount,
        currency_rate=_decimal(data.get("CurrencyRate") or 1, "CurrencyRate"),
        reference=str(data.get("Reference") or "")[:255],
        is_reconciled=bool(data.get("IsReconciled")),
        payment_type=PAYMENT_TYPES[doc.type],
    )
    # The answer reads the payment's document and account: the instances this batch holds, not a read each.
    payment._state.fields_cache.update(
        invoice=doc if is_invoice else None, credit_note=None if is_invoice else doc, account=account
    )
    ws.add(payment)
    ws.touch(doc)
    doc.amount_paid = money(doc.amount_paid + amount)
    document_settle(doc=doc, on=paid_on, ws=ws)
    history_add(org=org, object_id=payment.id, changes="Created", details=f"Payment {amount}", ws=ws)
    return payment


def payment_delete(*, org: Organisation, payment_id) -> Payment:
    """POST /Payments/{id} {"Status": "DELETED"}: payments are never edited, only removed."""
    with transaction.atomic():
        payment = Payment.objects.select_for_update().filter(org=org, id=payment_id).first()
        if payment is None:
            raise NotFound
        if payment.status == "DELETED":
            raise ElementInvalid("This payment has already been deleted.")
        doc = payment.invoice or payment.credit_note
        doc = type(doc).objects.select_for_update().get(pk=doc.pk)
        payment.status, payment.updated_at = "DELETED", timezone.now()
        payment.save(update_fields=["status", "updated_at"])
        doc.amount_paid = money(doc.amount_paid - payment.amount)
        document_settle(doc=doc, on=None)
        history_add(org=org, object_id=payment.id, changes="Deleted", details=f"Payment {payment.amount}")
        return payment


def allocation_create(*, org: Organisation, credit_note: CreditNote, data: dict) -> Allocation:
    """Allocate part of an AUTHORISED credit note to an AUTHORISED invoice of the same contact and side."""
    if not isinstance(data, dict):
        raise ElementInvalid("An allocation must be an object.")
    with transaction.atomic():
        credit_note = CreditNote.objects.select_for_update().get(pk=credit_note.pk)
        ref = data.get("Invoice") or {}
        invoice = None
        if isinstance(ref, dict) and ref.get("InvoiceID"):
            invoice = Invoice.objects.select_for_update().filter(org=org, id=ref["InvoiceID"]).first()
        if invoice is None:
            raise ElementInvalid("Invoice could not be found")
        if credit_note.status != "AUTHORISED":
            raise ElementInvalid("Only AUTHORISED credit notes with remaining credit can be allocated.")
        if invoice.status != "AUTHORISED":
            raise ElementInvalid("Credit can only be allocated to AUTHORISED invoices.")
        if {"ACCREC": "ACCRECCREDIT", "ACCPAY": "ACCPAYCREDIT"}[invoice.type] != credit_note.type:
            raise ElementInvalid("The credit note and the invoice must both be sales or both be purchases.")
        if invoice.contact_id != credit_note.contact_id:
            raise ElementInvalid("The credit note and the invoice must be for the same contact.")
        if data.get("Amount") is None:
            raise ElementInvalid("Allocation amount must be specified.")
        amount = money(_decimal(data["Amount"], "Amount"))
        if amount <= 0:
            raise ElementInvalid("Allocation amount must be greater than zero.")
        if amount > invoice.amount_due:
            raise ElementInvalid("The amount allocated cannot be more than the amount due on the invoice.")
        if amount > credit_note.remaining_credit:
            raise ElementInvalid("The amount allocated cannot be more than the remaining credit.")
        try:
            allocated_on = parse_date(data["Date"]) if data.get("Date") else timezone.now().date()
        except ValueError:
            raise ElementInvalid("A date is not in a valid format (use YYYY-MM-DD).") from None
        allocation = Allocation.objects.create(
            credit_note=credit_note, invoice=invoice, amount=amount, date=allocated_on
        )
        invoice.amount_credited = money(invoice.amount_credited + amount)
        credit_note.amount_credited = money(credit_note.amount_credited + amount)
        document_settle(doc=invoice, on=allocated_on)
        document_settle(doc=credit_note, on=allocated_on)
        return allocation


def allocation_delete(*, org: Organisation, credit_note: CreditNote, allocation_id) -> Allocation:
    """DELETE /CreditNotes/{id}/Allocations/{AllocationID}: the credit and the invoice's amount due come back."""
    with transaction.atomic():
        allocation = (
            Allocation.objects.select_for_update()
            .filter(credit_note=credit_note, id=allocation_id, is_deleted=False)
            .first()
        )
        if allocation is None:
            raise NotFound
        allocation.is_deleted = True
        allocation.save(update_fields=["is_deleted"])
        for doc in (allocation.invoice, allocation.credit_note):
            doc.amount_credited = money(doc.amount_credited - allocation.amount)
            document_settle(doc=doc, on=None)
        return allocation
