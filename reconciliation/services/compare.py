"""Comparing the two sides, entity by entity: match through the cross-references first, then natural keys, then
explain every difference as one finding with both sides' values and a suggested action.

Matching order per entity (what the sync itself uses to find a record again):
- contacts: cross-reference, then ContactNumber (mappings.rules.external_contact_number);
- invoices: cross-reference, then Reference = the order number;
- credit notes: cross-reference, then CreditNoteNumber;
- payments: cross-reference, then Reference on the order's invoice.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from mappings.rules import external_contact_number
from reconciliation.models import Mismatch
from reconciliation.services.records import XeroContact, XeroDocument, XeroPayment

Kind = Mismatch.Kind
GONE = ("VOIDED", "DELETED")
ZERO = Decimal("0.00")
# Xero stamps UpdatedDateUTC a moment after answering our write; later than this is someone else's change.
EDIT_SLACK = timedelta(seconds=5)


@dataclass
class XRef:
    xero_id: str
    synced_at: object


@dataclass
class EntityTally:
    compared: int = 0
    matched: int = 0
    source_total: Decimal = ZERO
    xero_total: Decimal = ZERO

    def as_json(self) -> dict:
        return {
            "compared": self.compared,
            "matched": self.matched,
            "source_total": str(self.source_total),
            "xero_total": str(self.xero_total),
        }


@dataclass
class Findings:
    """What a run found: mismatch field dicts (saved later in chunks) and the per-entity tallies."""

    items: list[dict] = field(default_factory=list)
    tallies: dict[str, EntityTally] = field(default_factory=lambda: defaultdict(EntityTally))

    def add(self, kind: str, entity: str, *, detail: str, action: str, **values) -> None:
        self.items.append(
            {"kind": kind, "entity": entity, "detail": detail[:500], "suggested_action": action[:300], **values}
        )

    def tally(self, entity: str) -> EntityTally:
        return self.tallies[entity]


def _money(value: Decimal | None) -> str:
    return "" if value is None else str(value)


# Contacts ----------------------------------------------------------------------------------------------------------


def contacts_compare(findings: Findings, *, sources, xero: list[XeroContact], xrefs: dict, connections: dict) -> None:
    """Each contact the period's invoices go to: in Xero, active, and not changed there since we synced it."""
    by_id = {c.xero_id: c for c in xero}
    by_number = {c.number.lower(): c for c in xero if c.number}
    tally = findings.tally("contact")
    for contact in sources:
        tally.compared += 1
        key = (contact.source_connection_id, contact.source_id)
        xref = xrefs.get(key)
        found = by_id.get(xref.xero_id) if xref else None
        if found is None:
            number = external_contact_number(
                source_connection=connections[contact.source_connection_id], source_id=contact.source_id
            )
            found = by_number.get(number.lower())
        common = {
            "source_connection_id": contact.source_connection_id,
            "source_id": contact.source_id,
            "source_label": contact.name[:200],
        }
        if found is None:
            findings.add(
                Kind.MISSING_IN_XERO,
                "contact",
                **common,
                xero_id=xref.xero_id if xref else "",
                source_value=contact.name[:500],
                detail=f"Customer {contact.name} is not in Xero"
                + (" any more (it was synced, then removed or merged there)." if xref else "."),
                action="Resync the customer, or merge it back in Xero.",
            )
            continue
        common.update(xero_id=found.xero_id, xero_label=found.name[:200])
        if found.status == "ARCHIVED":
            findings.add(
                Kind.VOIDED_IN_XERO,
                "contact",
                **common,
                source_value="active",
                xero_value="ARCHIVED",
                detail=f"Contact {found.name} is archived in Xero, so new invoices for this customer cannot use it.",
                action="Restore the contact in Xero, or accept if the customer should stay archived.",
            )
            continue
        edited = xref and found.updated_at and xref.synced_at and found.updated_at > xref.synced_at + EDIT_SLACK
        if edited and contact.email and found.email.lower() != contact.email.lower():
            findings.add(
                Kind.EDITED_IN_XERO,
                "contact",
                **common,
                source_value=contact.email[:500],
                xero_value=found.email[:500],
                detail=f"The email of {found.name} was changed in Xero after we synced it.",
                action="Keep Xero's change and accept, or resync to restore the source's email.",
            )
            continue
        tally.matched += 1


# Invoices ----------------------------------------------------------------------------------------------------------


def invoices_compare(
    findings: Findings,
    *,
    sources,
    xero: list[XeroDocument],
    xrefs: dict,
    contact_xrefs: dict,
    paid: dict,
) -> set[str]:
    """Each order of the period against its invoice; then every invoice of the period no order claims.

    `paid` is what the source says was paid per (source connection, order id). Returns the Xero ids claimed.
    """
    by_id = {d.xero_id: d for d in xero}
    by_reference = defaultdict(list)
    for document in xero:
        if document.reference and document.status not in GONE:
            by_reference[document.reference.lower()].append(document)
    claimed: set[str] = set()
    tally = findings.tally("invoice")
    for order in sources:
        xref = xrefs.get((order.source_connection_id, order.source_id))
        found = by_id.get(xref.xero_id) if xref else None
        twins = by_reference.get(order.number.lower(), []) if order.number else []
        if found is None and twins:
            found = twins[0]
        if found is not None:
            claimed.add(found.xero_id)
            claimed.update(t.xero_id for t in twins)
        common = {
            "source_connection_id": order.source_connection_id,
            "source_id": order.source_id,
            "source_label": f"Order {order.number}"[:200],
            "currency": order.currency,
        }
        if not order.invoiced:
            # Cancelled (or not invoiced by policy): its invoice, if it reached Xero, must be voided.
            if found is not None and found.status not in GONE:
                tally.compared += 1
                findings.add(
                    Kind.STATUS_DIFFERS,
                    "invoice",
                    **common,
                    xero_id=found.xero_id,
                    xero_label=found.number[:200],
                    source_value=order.why_not[:500],
                    xero_value=found.status,
                    detail=f"Order {order.number} is not invoiced ({order.why_not}), but invoice {found.number} is "
                    f"{found.status} in Xero.",
                    action="Void the invoice in Xero, or resync the order.",
                )
            continue
        tally.compared += 1
        tally.source_total += order.total
        if found is None:
            findings.add(
                Kind.MISSING_IN_XERO,
                "invoice",
                **common,
                xero_id=xref.xero_id if xref else "",
                source_value=str(order.total),
                detail=f"Order {order.number} ({order.total} {order.currency}) has no invoice in Xero for this period"
                + (" although it was synced: the invoice was deleted or its date moved." if xref else "."),
                action="Resync the order (auto-heal can do it).",
            )
            continue
        tally.xero_total += found.total
        common.update(xero_id=found.xero_id, xero_label=found.number[:200])
        if found.status in GONE:
            findings.add(
                Kind.VOIDED_IN_XERO,
                "invoice",
                **common,
                source_value="open order",
                xero_value=found.status,
                detail=f"Invoice {found.number} of order {order.number} is {found.status.lower()} in Xero, but the "
                "order stands in the source.",
                action="Resync the order to invoice it again, or cancel the order in the source.",
            )
            continue
        before = len(findings.items)
        if len(twins) > 1:
            numbers = ", ".join(t.number or t.xero_id for t in twins)
            findings.add(
                Kind.DUPLICATE_IN_XERO,
                "invoice",
                **common,
                source_value=order.number,
                xero_value=numbers[:500],
                detail=f"Xero has {len(twins)} invoices with reference {order.number}: {numbers}.",
                action="Void the extra invoices in Xero, keeping the one the order is linked to.",
            )
        _invoice_values(findings, order, found, common, xref=xref, contact_xrefs=contact_xrefs, paid=paid)
        if not any(item["kind"] not in Mismatch.INFORMATIONAL for item in findings.items[before:]):
            tally.matched += 1
    for document in xero:
        if document.xero_id in claimed or document.status in GONE:
            continue
        findings.add(
            Kind.MISSING_IN_SOURCE,
            "invoice",
            xero_id=document.xero_id,
            xero_label=document.number[:200],
            currency=document.currency,
            xero_value=str(document.total),
            source_label=document.reference[:200],
            detail=f"Invoice {document.number} ({document.total} {document.currency}, reference "
            f"{document.reference or 'none'}) matches no order in the sources for this period.",
            action="Check whether it was entered in Xero by hand (accept) or its order was deleted (void it).",
        )
    return claimed


def _invoice_values(findings, order, found: XeroDocument, common, *, xref, contact_xrefs, paid) -> None:
    """The differences between a matched order and its invoice, one finding per kind."""
    if found.total != order.total:
        difference = found.total - order.total
        findings.add(
            Kind.AMOUNT_DIFFERS,
            "invoice",
            **common,
            source_value=str(order.total),
            xero_value=str(found.total),
            difference=difference,
            detail=f"Invoice {found.number} totals {found.total} in Xero, the order {order.total} "
            f"({difference:+} {order.currency}).",
            action="Resync the order, or correct the invoice in Xero.",
        )
    tolerance = abs(found.rounding or ZERO)
    if abs(found.tax - order.tax) > tolerance:
        difference = found.tax - order.tax
        findings.add(
            Kind.TAX_DIFFERS,
            "invoice",
            **common,
            source_value=str(order.tax),
            xero_value=str(found.tax),
            difference=difference,
            detail=f"Invoice {found.number} carries {found.tax} tax in Xero, the order {order.tax} ({difference:+}).",
            action="Check the tax mappings of this order's rates, then resync.",
        )
    if found.currency != order.currency:
        findings.add(
            Kind.CURRENCY_DIFFERS,
            "invoice",
            **common,
            source_value=order.currency,
            xero_value=found.currency,
            detail=f"Invoice {found.number} is in {found.currency} in Xero, the order in {order.currency}.",
            action="Resync the order so the invoice is in the order's currency.",
        )
    elif order.rate is not None and found.rate.quantize(order.rate) != order.rate:
        findings.add(
            Kind.CURRENCY_DIFFERS,
            "invoice",
            **common,
            source_value=f"{order.currency} rate {order.rate}",
            xero_value=f"{found.currency} rate {found.rate}",
            detail=f"Invoice {found.number} uses the rate {found.rate} in Xero; the order was placed at {order.rate}.",
            action="Resync the order, or correct the rate on the invoice in Xero.",
        )
    contact_xref = contact_xrefs.get((order.source_connection_id, order.contact_id)) if order.contact_id else None
    if contact_xref and found.contact_id and found.contact_id != contact_xref.xero_id:
        findings.add(
            Kind.CONTACT_DIFFERS,
            "invoice",
            **common,
            source_value=order.contact_id,
            xero_value=found.contact_name[:500],
            detail=f"Invoice {found.number} is addressed to {found.contact_name} in Xero, not to the order's customer.",
            action="Resync the order, or change the invoice's contact in Xero.",
        )
    source_paid = paid.get((order.source_connection_id, order.source_id), ZERO)
    paid_in_source = order.total > 0 and source_paid >= order.total
    if paid_in_source and found.status != "PAID":
        findings.add(
            Kind.STATUS_DIFFERS,
            "invoice",
            **common,
            source_value=f"paid {source_paid}",
            xero_value=f"{found.status}, paid {found.amount_paid}",
            difference=found.amount_paid - source_paid,
            detail=f"Order {order.number} is paid in the source, but invoice {found.number} is {found.status} in "
            f"Xero with {found.amount_paid} paid.",
            action="Resync the order's payment.",
        )
    elif found.status == "PAID" and not paid_in_source:
        findings.add(
            Kind.STATUS_DIFFERS,
            "invoice",
            **common,
            source_value=f"paid {source_paid}",
            xero_value=f"PAID, paid {found.amount_paid}",
            difference=found.amount_paid - source_paid,
            detail=f"Invoice {found.number} is paid in Xero, but the source has {source_paid} of {order.total} "
            f"paid for order {order.number}.",
            action="Record the payment in the source, or remove the payment in Xero if it was a mistake.",
        )
    if (
        xref
        and found.updated_at
        and found.updated_at > xref.synced_at + EDIT_SLACK
        and (found.date != order.date or found.due_date != order.due_date)
    ):
        findings.add(
            Kind.EDITED_IN_XERO,
            "invoice",
            **common,
            source_value=f"date {order.date}, due {order.due_date}",
            xero_value=f"date {found.date}, due {found.due_date}",
            detail=f"Invoice {found.number} was edited in Xero after we synced it: its dates differ from the order's.",
            action="Keep Xero's change and accept, or resync the order to restore it.",
        )
    if found.rounding is not None:
        findings.add(
            Kind.ROUNDING_ADJUSTMENT,
            "invoice",
            **common,
            source_value=str(order.total),
            xero_value=f"rounding line {found.rounding}",
            difference=found.rounding,
            detail=f"Invoice {found.number} has a rounding line of {found.rounding}: Xero's per-line tax rounding "
            "differs from the order's, and the line keeps the totals equal.",
            action="Nothing to do; informational.",
        )


# Credit notes ------------------------------------------------------------------------------------------------------


def credit_notes_compare(findings: Findings, *, sources, xero: list[XeroDocument], xrefs: dict) -> None:
    """Each refund of the period against its credit note; then every credit note of the period no refund claims."""
    by_id = {d.xero_id: d for d in xero}
    by_number = {d.number.lower(): d for d in xero if d.number and d.status not in GONE}
    claimed: set[str] = set()
    tally = findings.tally("credit_note")
    for refund in sources:
        tally.compared += 1
        tally.source_total += refund.total
        xref = xrefs.get((refund.source_connection_id, refund.source_id))
        found = by_id.get(xref.xero_id) if xref else None
        if found is None:
            found = by_number.get(refund.number.lower())
        common = {
            "source_connection_id": refund.source_connection_id,
            "source_id": refund.source_id,
            "source_label": f"Refund {refund.number}"[:200],
            "currency": refund.currency,
        }
        if found is None:
            findings.add(
                Kind.MISSING_IN_XERO,
                "credit_note",
                **common,
                xero_id=xref.xero_id if xref else "",
                source_value=str(refund.total),
                detail=f"Refund {refund.number} ({refund.total} {refund.currency}) has no credit note in Xero.",
                action="Resync the refund (auto-heal can do it).",
            )
            continue
        claimed.add(found.xero_id)
        tally.xero_total += found.total
        common.update(xero_id=found.xero_id, xero_label=found.number[:200])
        if found.status in GONE:
            findings.add(
                Kind.VOIDED_IN_XERO,
                "credit_note",
                **common,
                source_value="refunded",
                xero_value=found.status,
                detail=f"Credit note {found.number} is {found.status.lower()} in Xero, but the refund stands.",
                action="Resync the refund, or accept if it was voided on purpose.",
            )
            continue
        before = len(findings.items)
        if found.total != refund.total:
            difference = found.total - refund.total
            findings.add(
                Kind.AMOUNT_DIFFERS,
                "credit_note",
                **common,
                source_value=str(refund.total),
                xero_value=str(found.total),
                difference=difference,
                detail=f"Credit note {found.number} totals {found.total} in Xero, the refund {refund.total} "
                f"({difference:+}).",
                action="Resync the refund, or correct the credit note in Xero.",
            )
        if found.currency != refund.currency:
            findings.add(
                Kind.CURRENCY_DIFFERS,
                "credit_note",
                **common,
                source_value=refund.currency,
                xero_value=found.currency,
                detail=f"Credit note {found.number} is in {found.currency}, the refund in {refund.currency}.",
                action="Resync the refund.",
            )
        if found.status == "AUTHORISED" and found.remaining_credit > 0:
            findings.add(
                Kind.UNALLOCATED_CREDIT,
                "credit_note",
                **common,
                source_value=str(refund.total),
                xero_value=f"remaining credit {found.remaining_credit}",
                difference=found.remaining_credit,
                detail=f"Credit note {found.number} still has {found.remaining_credit} of credit not allocated to an "
                "invoice or refunded.",
                action="Allocate the credit to the order's invoice in Xero, or record the refund payment.",
            )
        if len(findings.items) == before:
            tally.matched += 1
    for document in xero:
        if document.xero_id in claimed or document.status in GONE:
            continue
        findings.add(
            Kind.MISSING_IN_SOURCE,
            "credit_note",
            xero_id=document.xero_id,
            xero_label=document.number[:200],
            currency=document.currency,
            xero_value=str(document.total),
            detail=f"Credit note {document.number} ({document.total} {document.currency}) matches no refund in the "
            "sources for this period.",
            action="Check whether it was entered in Xero by hand (accept) or its refund was deleted (void it).",
        )


# Payments ----------------------------------------------------------------------------------------------------------


def payments_compare(
    findings: Findings, *, sources, xero: list[XeroPayment], xrefs: dict, invoice_xrefs: dict, ours: set[str]
) -> None:
    """Each source payment of the period against Xero's; then Xero payments on our invoices no source payment claims.

    `ours` are the Xero ids of invoices the sources' orders are linked to.
    """
    by_id = {p.xero_id: p for p in xero}
    by_key = {(p.invoice_id, p.reference.lower()): p for p in xero if p.status not in GONE}
    claimed: set[str] = set()
    tally = findings.tally("payment")
    for payment in sources:
        tally.compared += 1
        tally.source_total += payment.amount
        xref = xrefs.get((payment.source_connection_id, payment.source_id))
        found = by_id.get(xref.xero_id) if xref else None
        invoice = invoice_xrefs.get((payment.source_connection_id, payment.order_id))
        if found is None and invoice:
            found = by_key.get((invoice.xero_id, payment.reference.lower()))
        common = {
            "source_connection_id": payment.source_connection_id,
            "source_id": payment.source_id,
            "source_label": f"Payment {payment.reference or payment.source_id}"[:200],
            "currency": payment.currency,
        }
        if found is None:
            findings.add(
                Kind.MISSING_IN_XERO,
                "payment",
                **common,
                xero_id=xref.xero_id if xref else "",
                source_value=str(payment.amount),
                detail=f"Payment {payment.reference or payment.source_id} of {payment.amount} {payment.currency} "
                f"on {payment.date} is not in Xero.",
                action="Resync the payment (auto-heal can do it).",
            )
            continue
        claimed.add(found.xero_id)
        tally.xero_total += found.amount
        common.update(xero_id=found.xero_id, xero_label=(found.reference or found.invoice_number)[:200])
        if found.status in GONE:
            findings.add(
                Kind.VOIDED_IN_XERO,
                "payment",
                **common,
                source_value=str(payment.amount),
                xero_value=found.status,
                detail=f"Payment {payment.reference or payment.source_id} was deleted in Xero, so invoice "
                f"{found.invoice_number} shows as owed again.",
                action="Resync the payment, or accept if it was removed on purpose.",
            )
            continue
        if found.amount != payment.amount:
            difference = found.amount - payment.amount
            findings.add(
                Kind.AMOUNT_DIFFERS,
                "payment",
                **common,
                source_value=str(payment.amount),
                xero_value=str(found.amount),
                difference=difference,
                detail=f"Payment {payment.reference or payment.source_id} is {found.amount} in Xero, "
                f"{payment.amount} in the source ({difference:+}).",
                action="Correct the payment in Xero, or resync it.",
            )
            continue
        tally.matched += 1
    for payment in xero:
        if payment.xero_id in claimed or payment.status in GONE or payment.invoice_id not in ours:
            continue
        findings.add(
            Kind.MISSING_IN_SOURCE,
            "payment",
            xero_id=payment.xero_id,
            xero_label=(payment.reference or payment.invoice_number)[:200],
            xero_value=str(payment.amount),
            detail=f"A payment of {payment.amount} on {payment.date} against invoice {payment.invoice_number} is in "
            "Xero but not in the source.",
            action="Record the payment in the source, or accept if it was taken outside the shop.",
        )


# Items -------------------------------------------------------------------------------------------------------------


def items_compare(findings: Findings, *, sources, xero, xrefs: dict) -> None:
    """Each product we synced as an item (and any the policy would create) is still an item in Xero."""
    by_id = {i.xero_id: i for i in xero}
    by_code = {i.code.lower(): i for i in xero if i.code}
    tally = findings.tally("item")
    for product in sources:
        xref = xrefs.get((product.source_connection_id, product.source_id))
        if xref is None:
            continue
        tally.compared += 1
        found = by_id.get(xref.xero_id) or by_code.get(product.sku.lower())
        if found is None:
            findings.add(
                Kind.MISSING_IN_XERO,
                "item",
                source_connection_id=product.source_connection_id,
                source_id=product.source_id,
                source_label=product.sku[:200],
                xero_id=xref.xero_id,
                source_value=product.name[:500],
                detail=f"Item {product.sku} was synced to Xero but is no longer there.",
                action="Resync the product.",
            )
            continue
        tally.matched += 1
