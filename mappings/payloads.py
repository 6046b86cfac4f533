"""Canonical records + the tenant's mappings → the exact Xero JSON the sync engine sends.

Every builder reads the tenant's mapping tables and the cached Xero settings (xero_reference_get) and checks each
choice against them. Anything Xero would refuse, or that would silently post wrong numbers, comes back as a Problem
with a plain-language cause and no payload, so the engine holds the record as "needs attention" instead of sending
it. Numbers in payloads are JSON numbers (mappings.results.wire); explanations keep exact decimal strings.
Contact and item builders live in mappings.contact_payloads and are exported here too.
"""

from datetime import timedelta
from decimal import Decimal

from connections.canonical import LineKind, Order, OrderLine, Payment, Refund
from connections.models import Connection
from connections.providers.xero.reference import XeroReference
from core.money import UNIT_PRICE_4DP, quantize
from mappings.contact_payloads import contact_display_name, contact_note_payload, contact_payload, item_payload
from mappings.lines import ZERO, Problem, build_line, rounding_line, source_name
from mappings.models import FieldTransform
from mappings.results import PayloadResult, local_date, payload_json, reference, result, wire
from mappings.rules import MappingSet, fix_url
from mappings.transforms import transforms_apply
from mappings.validation import payment_account_problem

__all__ = [
    "PayloadResult",
    "Problem",
    "contact_display_name",
    "contact_note_payload",
    "contact_payload",
    "credit_note_payload",
    "invoice_payload",
    "item_payload",
    "payload_json",
    "wire",
    "payment_payload",
    "refund_payment_payload",
    "allocation_payload",
]

Target = FieldTransform.Target
RATE_6DP = Decimal("0.000001")


def _currency(*, ref: XeroReference, mappings: MappingSet, currency: str, base: str, rate: Decimal):
    """(fields to add, problems, note) for a document in `currency` whose source rate is `rate` per `base` unit."""
    xero_base = ref.organisation.get("BaseCurrency") or ""
    if not currency or currency == xero_base:
        return {"CurrencyCode": currency or xero_base} if (currency or xero_base) else {}, [], ""
    enabled = {c.get("Code") for c in ref.currencies}
    if currency not in enabled:
        cause = f"Currency {currency} is not enabled in Xero; add it under Settings → Currencies, then retry."
        return {}, [Problem("currency_not_enabled", cause)], ""
    fields = {"CurrencyCode": currency}
    if mappings.posting.currency_rate == mappings.posting.CurrencyRate.XERO:
        return fields, [], "Xero's daily rate (posting policy)"
    if base and base != xero_base:
        return fields, [], f"Xero's daily rate: the source's rate is per {base}, Xero's base currency is {xero_base}"
    if rate and rate > 0:
        fields["CurrencyRate"] = rate.quantize(RATE_6DP)
        return fields, [], f"the source's rate {rate} {currency} per {xero_base}"
    return fields, [], "Xero's daily rate (the source recorded none)"


# Invoices ----------------------------------------------------------------------------------------------------------


def invoice_payload(
    *,
    source_connection: Connection,
    xero_connection: Connection,
    order: Order,
    contact_xero_id: str,
    existing_xero_id: str | None = None,
) -> PayloadResult:
    """The ACCREC invoice for `order`, whose Xero total equals order.grand_total to the cent, or its problems."""
    ref, problems = reference(xero_connection)
    if problems:
        return PayloadResult(None, tuple(problems))
    difference = order.unexplained_difference()
    if difference:
        cause = (
            f"The order's own numbers don't add up: order {order.number} of {source_name(source_connection)} "
            f"totals {order.grand_total}, but its lines{'' if order.tax_inclusive else ' plus tax'} come to "
            f"{order.grand_total - difference} ({difference:+}). Correct the order in the source."
        )
        return PayloadResult(None, (Problem("order_totals_inconsistent", cause),))
    mappings = MappingSet.load(source_connection)
    posting = mappings.posting
    fields = transforms_apply(mappings.transforms, entity="order", record=order)
    suffix = fields.get(Target.LINE_DESCRIPTION_SUFFIX, "")
    suffix = f" {suffix}" if suffix else ""
    inclusive = order.tax_inclusive
    lines = [
        build_line(
            mappings=mappings,
            ref=ref,
            line=line,
            order=order,
            inclusive=inclusive,
            allow_discount=True,
            description_suffix=suffix,
        )
        for line in order.lines
    ]
    categories = {t["Name"] for line in lines for t in line.payload.get("Tracking", [])}
    if len(categories) > 2:
        problems.append(
            Problem("tracking_too_many", "These tracking mappings use more than two tracking categories on one line.")
        )
    xero_total = sum((line.amount for line in lines), ZERO) + (ZERO if inclusive else sum((x.tax for x in lines), ZERO))
    gap = quantize(order.grand_total - xero_total)
    if gap and not any(line.problems for line in lines):
        lines.append(rounding_line(mappings=mappings, ref=ref, difference=gap, what="order"))

    tenant = source_connection.tenant
    issued = local_date(order.created_at, tenant.timezone)
    payload = {
        "Type": "ACCREC",
        "Contact": {"ContactID": contact_xero_id},
        "Date": issued.isoformat(),
        "DueDate": (issued + timedelta(days=posting.due_days)).isoformat(),
        "Status": posting.invoice_status,
        "LineAmountTypes": "Inclusive" if inclusive else "Exclusive",
        "Reference": fields.get(Target.INVOICE_REFERENCE, order.number)[:255],
        "LineItems": [line.payload for line in lines],
    }
    if posting.numbering == posting.Numbering.SOURCE:
        payload["InvoiceNumber"] = f"{posting.invoice_number_prefix}{order.number}"[:255]
    currency, currency_problems, rate_note = _currency(
        ref=ref, mappings=mappings, currency=order.currency, base=order.base_currency, rate=order.currency_rate
    )
    payload.update(currency)
    problems += currency_problems
    if existing_xero_id:
        payload["InvoiceID"] = existing_xero_id
    summary = {
        "line_id": "totals",
        "kind": "totals",
        "source_total": str(order.grand_total),
        "xero_total": str(xero_total + (gap if gap else ZERO)),
        "rounding_adjustment": str(gap),
        "currency": currency.get("CurrencyCode", ""),
        "currency_rate": rate_note,
        "invoice_number": payload.get("InvoiceNumber", "(Xero numbering)"),
        "reference": payload["Reference"],
    }
    return result(payload, problems, lines, [summary])


# Credit notes ------------------------------------------------------------------------------------------------------


def credit_note_payload(
    *,
    source_connection: Connection,
    xero_connection: Connection,
    refund: Refund,
    contact_xero_id: str,
    order: Order | None = None,
    existing_xero_id: str | None = None,
) -> PayloadResult:
    """The ACCRECCREDIT credit note for `refund` (lines in the order's tax basis), totalling refund.total exactly.

    Refund lines take the account, tax and tracking their order line had (found by line id or SKU); shipping,
    adjustments and fees use the posting policy's accounts. Credit notes take no discounts in Xero.
    """
    ref, problems = reference(xero_connection)
    if problems:
        return PayloadResult(None, tuple(problems))
    if refund.total < 0:
        # Xero refuses a credit note whose total is negative (and an invoice for the fee would charge the
        # customer money the source never asked for): a person decides.
        refunded = quantize(refund.total + abs(refund.fee))
        cause = (
            f"Refund {refund.number} of {source_name(source_connection)} refunds {refunded} but charges a fee of "
            f"{quantize(abs(refund.fee))}, so its total is {quantize(refund.total)}; Xero does not accept a negative "
            "credit note. Correct the refund in the source (the fee cannot exceed what is refunded), or invoice the "
            "difference in Xero and discard this job."
        )
        return PayloadResult(None, (Problem("refund_total_negative", cause),))
    mappings = MappingSet.load(source_connection)
    inclusive = bool(order and order.tax_inclusive)
    originals = {line.line_id: line for line in (order.lines if order else ())}
    by_sku = {line.sku: line for line in (order.lines if order else ()) if line.sku}
    source_lines = []
    for item in refund.lines:
        original = originals.get(item.line_id) or by_sku.get(item.sku)
        quantity = item.quantity or Decimal(1)
        source_lines.append(
            OrderLine(
                line_id=item.line_id,
                kind=LineKind.PRODUCT,
                description=item.description or (original.description if original else item.sku),
                quantity=quantity,
                unit_price=quantize(item.amount / quantity, UNIT_PRICE_4DP),
                tax=item.tax,
                total=item.amount,
                tax_key=item.tax_key or (original.tax_key if original else None),
                sku=item.sku,
                product_type=original.product_type if original else "",
                category=original.category if original else "",
            )
        )
    shipping_line = next((line for line in (order.lines if order else ()) if line.kind == LineKind.SHIPPING), None)
    for line_id, kind, description, amount in (
        ("shipping", LineKind.SHIPPING, "Shipping refund", refund.shipping),
        ("adjustment", LineKind.SURCHARGE, "Refund adjustment", refund.adjustment),
        ("fee", LineKind.SURCHARGE, "Refund fee", -abs(refund.fee) if refund.fee else ZERO),
    ):
        if amount:
            key = shipping_line.tax_key if (kind == LineKind.SHIPPING and shipping_line) else None
            source_lines.append(OrderLine(line_id, kind, description, Decimal(1), amount, total=amount, tax_key=key))
    lines = [
        build_line(mappings=mappings, ref=ref, line=line, order=order, inclusive=inclusive, allow_discount=False)
        for line in source_lines
    ]
    xero_total = sum((line.amount for line in lines), ZERO) + (ZERO if inclusive else sum((x.tax for x in lines), ZERO))
    gap = quantize(refund.total - xero_total)
    if gap and not any(line.problems for line in lines):
        lines.append(rounding_line(mappings=mappings, ref=ref, difference=gap, what="refund"))
    tenant = source_connection.tenant
    issued = local_date(refund.refunded_at, tenant.timezone)
    payload = {
        "Type": "ACCRECCREDIT",
        "Contact": {"ContactID": contact_xero_id},
        "Date": issued.isoformat(),
        "Status": mappings.posting.invoice_status,
        "LineAmountTypes": "Inclusive" if inclusive else "Exclusive",
        "Reference": (f"Refund of {order.number}" if order else refund.number)[:255],
        "CreditNoteNumber": f"{mappings.posting.invoice_number_prefix}{refund.number}"[:255],
        "LineItems": [line.payload for line in lines],
    }
    currency, currency_problems, _ = _currency(
        ref=ref,
        mappings=mappings,
        currency=refund.currency,
        base=order.base_currency if order else "",
        rate=order.currency_rate if order else Decimal(0),
    )
    payload.update(currency)
    problems += currency_problems
    if existing_xero_id:
        payload["CreditNoteID"] = existing_xero_id
    return result(payload, problems, lines)


# Payments ----------------------------------------------------------------------------------------------------------


def _payment_account(*, source_connection: Connection, ref: XeroReference, method: str, currency: str):
    """(account code, explanation) for money paid or refunded by `method`, or (None, problem)."""
    mappings = MappingSet.load(source_connection)
    choice = mappings.payment_account_for(method, currency)
    if choice is None:
        cause = (
            f"Payment method “{method or '(none)'}” of {source_name(source_connection)} is not mapped to "
            f"a Xero bank account{f' for {currency}' if currency else ''}."
        )
        url = fix_url("paymentaccountmapping", source_connection=source_connection.pk, payment_method=method)
        return None, Problem("payment_account_unmapped", cause, url)
    problem = payment_account_problem(ref, choice.value)
    if problem:
        return None, Problem("payment_account_invalid", f"{problem} Chosen by {choice.rule}.", choice.fix_url)
    return choice.value, {"account_code": choice.value, "account_rule": choice.rule}


def payment_payload(
    *, source_connection: Connection, xero_connection: Connection, payment: Payment, invoice_xero_id: str
) -> PayloadResult:
    """A payment against an invoice, into the account mapped for its method (and currency)."""
    ref, problems = reference(xero_connection)
    if problems:
        return PayloadResult(None, tuple(problems))
    account, found = _payment_account(
        source_connection=source_connection, ref=ref, method=payment.method, currency=payment.currency
    )
    if account is None:
        return PayloadResult(None, (found,))
    tenant = source_connection.tenant
    payload = {
        "Invoice": {"InvoiceID": invoice_xero_id},
        "Account": {"Code": account},
        "Date": local_date(payment.paid_at, tenant.timezone).isoformat(),
        "Amount": quantize(payment.amount),
    }
    if payment.reference:
        payload["Reference"] = payment.reference[:255]
    return PayloadResult(wire(payload), (), ({**found, "amount": str(quantize(payment.amount))},))


def refund_payment_payload(
    *,
    source_connection: Connection,
    xero_connection: Connection,
    refund: Refund,
    credit_note_xero_id: str,
    method: str,
) -> PayloadResult:
    """The money of a paid order's refund going back: a payment against its credit note, out of the account the
    order's payment `method` is mapped to (research/xero.md §7: Payment.CreditNote)."""
    ref, problems = reference(xero_connection)
    if problems:
        return PayloadResult(None, tuple(problems))
    account, found = _payment_account(
        source_connection=source_connection, ref=ref, method=method, currency=refund.currency
    )
    if account is None:
        return PayloadResult(None, (found,))
    payload = {
        "CreditNote": {"CreditNoteID": credit_note_xero_id},
        "Account": {"Code": account},
        "Date": local_date(refund.refunded_at, source_connection.tenant.timezone).isoformat(),
        "Amount": quantize(refund.total),
        "Reference": f"Refund {refund.number}"[:255],
    }
    return PayloadResult(wire(payload), (), ({**found, "amount": str(quantize(refund.total))},))


def allocation_payload(
    *,
    source_connection: Connection,
    refund: Refund,
    credit_note_xero_id: str,
    invoice_xero_id: str | None,
    amount_due: Decimal,
    order_number: str,
) -> PayloadResult:
    """The credit note of `refund` allocated to its order's invoice, up to what is still due on it.

    `amount_due` is the invoice's total less the payments and allocations already applied to it. What the
    allocation leaves over stays as credit on the customer's account (allocated or refunded from Xero later).
    """
    if not invoice_xero_id:
        cause = (
            f"The invoice of order {order_number} is not in Xero, so credit note {refund.number} cannot be allocated."
        )
        return PayloadResult(None, (Problem("invoice_missing", cause),))
    amount = min(quantize(refund.total), quantize(amount_due))
    if amount <= 0:
        cause = (
            f"Nothing is left to pay on the invoice of order {order_number}, so credit note {refund.number} "
            f"({quantize(refund.total)}) stays as credit on the customer's account. If the money went back to the "
            "customer, record it as a refund in Xero (Credit note → Add refund); otherwise allocate it later."
        )
        return PayloadResult(None, (Problem("nothing_to_allocate", cause),))
    payload = {
        "CreditNoteID": credit_note_xero_id,
        "Invoice": {"InvoiceID": invoice_xero_id},
        "Amount": amount,
        "Date": local_date(refund.refunded_at, source_connection.tenant.timezone).isoformat(),
    }
    remainder = quantize(refund.total) - amount
    explanation = {"amount": str(amount), "amount_due": str(quantize(amount_due)), "credit_left": str(remainder)}
    return PayloadResult(wire(payload), (), (explanation,))
