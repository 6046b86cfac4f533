"""Seeded discrepancies of every mismatch class, made in the simulated Xero organisation, with their ground truth.

Each discrepancy changes one record on one side, the way a person or a lost write would, and is recorded as the
finding a correct run must report: (kind, entity, source id), or the Xero id for records only Xero has. Records
are chosen so that no two discrepancies touch the same record: invoices nobody paid or credited, payments and
credit notes of other orders, contacts of their own.
"""

import random
import uuid
from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from sandbox.xero.models import Contact, CreditNote, Invoice, LineItem, Payment

INVOICE_KINDS = (
    "missing_in_xero",
    "missing_in_source",
    "amount_differs",
    "tax_differs",
    "status_differs",
    "contact_differs",
    "duplicate_in_xero",
    "edited_in_xero",
    "voided_in_xero",
    "currency_differs",
    "rounding_adjustment",
)
OTHER_KINDS = (
    ("unallocated_credit", "credit_note"),
    ("amount_differs", "payment"),
    ("voided_in_xero", "contact"),
    ("edited_in_xero", "contact"),
)


def _copy(invoice: Invoice, **changes) -> Invoice:
    lines = list(invoice.lines.all())
    invoice.pk = uuid.uuid4()
    for name, value in changes.items():
        setattr(invoice, name, value)
    invoice.save(force_insert=True)
    for line in lines:
        line.pk, line.invoice = uuid.uuid4(), invoice
    LineItem.objects.bulk_create(lines)
    return invoice


def discrepancies_inject(*, state, share: float, seed: int, rounding_account: str) -> set[tuple[str, str, str]]:
    """Make about `share` of the records wrong, spread evenly over every class; returns the expected findings."""
    rng = random.Random(seed)
    per_class = max(1, round(len(state.invoices) * share / (len(INVOICE_KINDS) + len(OTHER_KINDS))))
    truth: set[tuple[str, str, str]] = set()
    busy = state.paid_orders | state.refunded_orders | {key for _, _, key in state.held}
    simple = sorted(order for order in state.invoices if order not in busy)
    rng.shuffle(simple)
    invoices = {
        str(i.pk): i
        for i in Invoice.objects.filter(pk__in=[state.invoices[o] for o in simple[: per_class * len(INVOICE_KINDS)]])
    }
    contacts = list(Contact.objects.filter(pk__in=list(state.contacts.values())).order_by("pk"))
    later = timezone.now() + timedelta(hours=1)
    picks = iter(simple)
    for kind in INVOICE_KINDS:
        for n in range(per_class):
            order = next(picks)
            invoice = invoices[state.invoices[order]]
            row = Invoice.objects.filter(pk=invoice.pk)
            if kind == "missing_in_xero":
                invoice.lines.all().delete()
                row.delete()
            elif kind == "missing_in_source":
                manual = _copy(invoice, invoice_number=f"MANUAL-{n}", reference=f"MANUAL-{n}")
                truth.add((kind, "invoice", str(manual.pk)))
                continue
            elif kind == "amount_differs":
                row.update(total=invoice.total + Decimal(rng.randint(1, 5000)) / 100)
            elif kind == "tax_differs":
                row.update(total_tax=invoice.total_tax + Decimal("1.00"), sub_total=invoice.sub_total - Decimal("1.00"))
            elif kind == "status_differs":
                row.update(status="PAID", amount_paid=invoice.total)
            elif kind == "contact_differs":
                other = rng.choice([c for c in contacts[:10] if c.pk != invoice.contact_id])
                row.update(contact=other)
            elif kind == "duplicate_in_xero":
                _copy(invoice, invoice_number=f"{invoice.invoice_number}-D")
            elif kind == "edited_in_xero":
                row.update(date=invoice.date - timedelta(days=1), updated_at=later)
            elif kind == "voided_in_xero":
                row.update(status="VOIDED")
            elif kind == "currency_differs":
                row.update(currency_code="EUR" if invoice.currency_code != "EUR" else "USD")
            elif kind == "rounding_adjustment":
                LineItem.objects.create(
                    invoice=invoice,
                    position=999,
                    description="Rounding adjustment",
                    quantity=1,
                    unit_amount=Decimal("0.01"),
                    line_amount=Decimal("0.01"),
                    account_code=rounding_account,
                )
            truth.add((kind, "invoice", order))

    refunds = sorted(state.credit_notes)
    rng.shuffle(refunds)
    for refund in refunds[:per_class]:
        CreditNote.objects.filter(pk=state.credit_notes[refund]).update(status="AUTHORISED", amount_paid=0)
        truth.add(("unallocated_credit", "credit_note", refund))
    payments = sorted(state.payments)
    rng.shuffle(payments)
    for payment in payments[:per_class]:
        row = Payment.objects.get(pk=state.payments[payment])
        Payment.objects.filter(pk=row.pk).update(amount=row.amount + Decimal("1.00"))
        truth.add(("amount_differs", "payment", payment))
    by_xero_id = {xero_id: source_id for source_id, xero_id in state.contacts.items()}
    spare = [c for c in contacts[10:] if c.email_address]
    rng.shuffle(spare)
    for contact in spare[:per_class]:
        Contact.objects.filter(pk=contact.pk).update(status="ARCHIVED")
        truth.add(("voided_in_xero", "contact", by_xero_id[str(contact.pk)]))
    for contact in spare[per_class : 2 * per_class]:
        Contact.objects.filter(pk=contact.pk).update(email_address=f"changed.{contact.email_address}", updated_at=later)
        truth.add(("edited_in_xero", "contact", by_xero_id[str(contact.pk)]))
    return truth
