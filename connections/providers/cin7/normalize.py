"""Cin7 Core native records → canonical records.

Facts (research/sources.md §3): dates are ISO 8601 in UTC, with or without "Z" and with 0-7 fraction digits, or
date-only ("2017-09-29T00:00:00"); money and quantities are JSON numbers; a line's `Discount` is a percentage and
its `Tax` an amount; `Total` is the line after discount, tax included when the sale's `TaxCalculation` is
"Inclusive"; taxes are named rules (`TaxRule`) whose percent lives in /ref/tax; `CurrencyRate` is base-currency
units per customer-currency unit (the inverse of the canonical rate). Additional charges (freight, surcharges)
are computed exactly like lines.

The canonical order is the sale's Order task (what was ordered and authorised). Lines keep Cin7's own totals, so
`unexplained_difference()` is zero exactly when Cin7's task totals agree with its lines.

Refunds are credit notes, in the sale's tax basis (see connections.sources): refund.total == Σ line.amount +
shipping (+ Σ tax when exclusive). Records inside a sale carry the sale's fields they need under `_context`
(added by the adapter): CustomerCurrency, TaxCalculation, SaleID, SaleOrderNumber, CurrencyRate.
"""

import re
from datetime import UTC, datetime
from decimal import Decimal

from connections.canonical import (
    ZERO,
    Address,
    Contact,
    LineKind,
    Order,
    OrderLine,
    Payment,
    Product,
    Refund,
    RefundLine,
    StockLevel,
    TaxKey,
)
from core.errors import SkippableRecordError
from core.money import UNIT_PRICE_4DP, from_json_number, quantize
from core.money import json_amount as _money

RATE_PLACES = Decimal("0.0000000001")
SHIPPING_WORDS = re.compile(r"freight|shipping|delivery|postage|courier|carriage", re.IGNORECASE)


def parse_time(value) -> datetime | None:
    """Cin7's timestamps as aware UTC datetimes (None when absent or unreadable)."""
    if not value or not isinstance(value, str):
        return None
    text = value.strip()
    zone = "+00:00"
    if text[-1:] in ("Z", "z"):
        text = text[:-1]
    elif len(text) > 19 and text[-6] in "+-" and text[-3] == ":":
        text, zone = text[:-6], text[-6:]
    if "." in text:
        main, fraction = text.split(".", 1)
        text = f"{main}.{(fraction + '000000')[:6]}"
    try:
        return datetime.fromisoformat(text + zone).astimezone(UTC)
    except ValueError:
        return None


def tax_rates(rules: list[dict]) -> dict[str, Decimal]:
    """Percent per tax rule name, from /ref/tax (TaxPercent, else the sum of the components' percents)."""
    rates = {}
    for rule in rules:
        if not rule.get("Name"):
            continue
        if rule.get("TaxPercent") is not None:
            percent = from_json_number(rule["TaxPercent"])
        else:
            percent = sum((from_json_number(c.get("Percent")) for c in rule.get("Components") or []), Decimal(0))
        rates[rule["Name"]] = percent.normalize()
    return rates


def _tax_key(rule: str | None, rates: dict | None, *, tax: Decimal, total: Decimal, inclusive: bool) -> TaxKey:
    name = rule or ""
    if rates and name in rates:
        percent = rates[name]
    else:
        # The rule is unknown here: the rate its amounts imply, to the hundredth of a percent.
        base = total - tax if inclusive else total
        percent = quantize(tax * 100 / base).normalize() if base else Decimal(0)
    if not name:
        return TaxKey.from_rate(percent)
    return TaxKey(code=name, percent=percent, label=name)


def _context(native: dict) -> dict:
    return native.get("_context") or {}


def _is_shipping(charge: dict) -> bool:
    return bool(SHIPPING_WORDS.search(charge.get("Description") or ""))


def _address(native: dict | None, kind: str) -> Address | None:
    if not native:
        return None
    lines = tuple(line for line in (native.get("Line1"), native.get("Line2")) if line)
    return Address(
        kind=kind,
        lines=lines,
        city=native.get("City") or "",
        region=native.get("State") or "",
        postcode=native.get("Postcode") or "",
        country=native.get("Country") or "",
    )


def _split_name(name: str) -> tuple[str, str]:
    first, _, last = (name or "").strip().partition(" ")
    return first, last


def normalize_customer(native: dict) -> Contact:
    """A Cin7 customer (GET /customer) or supplier (GET /supplier) as a canonical contact.

    The company is Cin7's Name; the person, email and phone come from the default contact (Cin7 keeps the email
    there, not on the customer).
    """
    contacts = native.get("Contacts") or []
    person = next((c for c in contacts if c.get("Default")), contacts[0] if contacts else {})
    first, last = _split_name(person.get("Name") or "")
    is_supplier = "AccountPayable" in native and "AccountReceivable" not in native
    kinds = {"Billing": "billing", "Business": "billing", "Shipping": "shipping"}
    return Contact(
        source_id=str(native["ID"]),
        email=(person.get("Email") or "").strip().lower(),
        first_name=first,
        last_name=last,
        company=native.get("Name") or "",
        phone=person.get("Phone") or person.get("MobilePhone") or "",
        tax_number=native.get("TaxNumber") or "",
        group=native.get("PriceTier") or "",
        addresses=tuple(_address(a, kinds.get(a.get("Type"), "billing")) for a in native.get("Addresses") or [] if a),
        is_customer=not is_supplier,
        is_supplier=is_supplier,
        is_archived=(native.get("Status") or "").lower() == "deprecated",
        updated_at=parse_time(native.get("LastModifiedOn")),
    )


def _line(native: dict, *, kind: LineKind, line_id: str, rates, inclusive: bool) -> OrderLine:
    quantity = from_json_number(native.get("Quantity") if native.get("Quantity") is not None else 1)
    unit_price = quantize(from_json_number(native.get("Price")), UNIT_PRICE_4DP)
    total = _money(native.get("Total"))
    tax = _money(native.get("Tax"))
    # Cin7 discounts by percent; the canonical discount is the amount that percent took off.
    discount = quantize(quantity * unit_price) - total if from_json_number(native.get("Discount")) else ZERO
    return OrderLine(
        line_id=line_id,
        kind=kind,
        description=native.get("Name") or native.get("Description") or native.get("SKU") or "",
        quantity=quantity,
        unit_price=unit_price,
        discount=discount,
        tax=tax,
        total=total,
        tax_key=_tax_key(native.get("TaxRule"), rates, tax=tax, total=total, inclusive=inclusive),
        sku=native.get("SKU") or "",
    )


def _task_lines(task: dict, *, rates, inclusive: bool) -> list[OrderLine]:
    lines = [
        _line(line, kind=LineKind.PRODUCT, line_id=f"line:{n}", rates=rates, inclusive=inclusive)
        for n, line in enumerate(task.get("Lines") or [], start=1)
    ]
    for n, charge in enumerate(task.get("AdditionalCharges") or [], start=1):
        kind = LineKind.SHIPPING if _is_shipping(charge) else LineKind.SURCHARGE
        lines.append(_line(charge, kind=kind, line_id=f"charge:{n}", rates=rates, inclusive=inclusive))
    return lines


def _currency_rate(native: dict) -> Decimal:
    rate = from_json_number(native.get("CurrencyRate") or 1)
    # Cin7: base units per customer unit. Canonical: order-currency units per base unit.
    return (Decimal(1) / rate).quantize(RATE_PLACES) if rate else Decimal(1)


def normalize_sale(native: dict, *, rates: dict[str, Decimal] | None = None) -> Order:
    """A full Cin7 sale (GET /sale?ID=) as a canonical order, from its Order task; `rates` from tax_rates()."""
    task = native.get("Order") or {}
    inclusive = (native.get("TaxCalculation") or "").lower() == "inclusive"
    lines = _task_lines(task, rates=rates, inclusive=inclusive)
    products = [line for line in lines if line.kind == LineKind.PRODUCT]
    created = parse_time(native.get("SaleOrderDate")) or parse_time(native.get("LastModifiedOn"))
    billing = _address(native.get("BillingAddress"), "billing")
    first, last = _split_name(native.get("Contact") or "")
    contact = Contact(
        source_id=str(native.get("CustomerID") or ""),
        email=(native.get("Email") or "").strip().lower(),
        first_name=first,
        last_name=last,
        company=native.get("Customer") or "",
        phone=native.get("Phone") or "",
        addresses=(billing,) if billing else (),
    )
    status = native.get("Status") or ""
    return Order(
        source_id=str(native["ID"]),
        number=task.get("SaleOrderNumber") or str(native["ID"]),
        currency=native.get("CustomerCurrency") or native.get("BaseCurrency") or "",
        base_currency=native.get("BaseCurrency") or "",
        currency_rate=_currency_rate(native),
        tax_inclusive=inclusive,
        lines=tuple(lines),
        subtotal=quantize(sum((quantize(line.quantity * line.unit_price) for line in products), ZERO)),
        tax_total=_money(task.get("Tax")),
        discount_total=quantize(sum((line.discount for line in lines), ZERO)),
        shipping_total=quantize(sum((line.total for line in lines if line.kind == LineKind.SHIPPING), ZERO)),
        grand_total=_money(task.get("Total")),
        status=status,
        is_cancelled="VOIDED" in (status.upper(), (task.get("Status") or "").upper()),
        created_at=created,
        updated_at=parse_time(native.get("LastModifiedOn")) or created,
        contact=contact,
        store=native.get("Location") or "",
        channel=native.get("SourceChannel") or "",
        customer_group=native.get("PriceTier") or "",
        extra={
            "cin7_currency_rate": format(from_json_number(native.get("CurrencyRate") or 1), "f"),
            "customer_reference": native.get("CustomerReference") or "",
            "invoice_numbers": [i.get("InvoiceNumber") for i in native.get("Invoices") or [] if i.get("InvoiceNumber")],
        },
    )


def normalize_payment(native: dict) -> Payment:
    """A /sale/payment row of Type "Payment" as a canonical payment; refunds of money are not payments.

    Cin7 names the bank account the money went to (`Account`, an account code, as Xero's); it is the method.
    """
    if (native.get("Type") or "Payment") != "Payment":
        raise SkippableRecordError("A Cin7 refund transaction is not a payment.", code="not_a_payment")
    context = _context(native)
    sale_id = str(native.get("SaleID") or context.get("SaleID") or "")
    return Payment(
        source_id=f"{sale_id}:{native['ID']}",
        order_source_id=sale_id,
        amount=_money(native.get("Amount")),
        currency=context.get("CustomerCurrency") or "",
        method=str(native.get("Account") or ""),
        paid_at=parse_time(native.get("DatePaid")) or parse_time(native.get("DateCreated")),
        reference=native.get("Reference") or native.get("InvoiceNumber") or "",
    )


def normalize_credit_note(native: dict, *, rates: dict[str, Decimal] | None = None) -> Refund:
    """A credit note of a sale (`CreditNotes[]`, with `_context` from its sale) as a canonical refund."""
    context = _context(native)
    if (native.get("Status") or "").upper() in ("VOIDED", "DRAFT"):
        raise SkippableRecordError(
            f"Cin7 credit note {native.get('CreditNoteNumber') or native.get('TaskID')} is not authorised.",
            code="credit_note_not_authorised",
        )
    inclusive = (context.get("TaxCalculation") or "").lower() == "inclusive"
    lines, shipping = [], ZERO
    for line in _task_lines(native, rates=rates, inclusive=inclusive):
        if line.kind == LineKind.SHIPPING:
            shipping += line.total
            continue
        lines.append(
            RefundLine(
                line_id=line.line_id,
                description=line.description,
                quantity=line.quantity,
                amount=line.total,
                tax=line.tax,
                tax_key=line.tax_key,
                sku=line.sku,
            )
        )
    sale_id = str(context.get("SaleID") or "")
    return Refund(
        source_id=f"{sale_id}:{native['TaskID']}",
        order_source_id=sale_id,
        number=native.get("CreditNoteNumber") or str(native["TaskID"]),
        currency=context.get("CustomerCurrency") or "",
        lines=tuple(lines),
        shipping=quantize(shipping),
        adjustment=ZERO,
        fee=ZERO,
        total=_money(native.get("Total")),
        refunded_at=parse_time(native.get("CreditNoteDate")) or parse_time(context.get("LastModifiedOn")),
    )


def normalize_product(native: dict, *, rates: dict[str, Decimal] | None = None) -> Product:
    """A Cin7 product (GET /product) as a canonical product; price is price tier 1, cost the average cost."""
    price = native.get("PriceTier1")
    if price is None:
        price = (native.get("PriceTiers") or {}).get("Tier 1")
    rule = native.get("SaleTaxRule")
    return Product(
        source_id=str(native["ID"]),
        sku=native.get("SKU") or "",
        name=native.get("Name") or native.get("SKU") or "",
        price=quantize(from_json_number(price), UNIT_PRICE_4DP) if price is not None else None,
        cost=quantize(from_json_number(native["AverageCost"]), UNIT_PRICE_4DP)
        if native.get("AverageCost") is not None
        else None,
        description=native.get("Description") or "",
        product_type=native.get("Type") or "",
        category=native.get("Category") or "",
        tax_key=TaxKey(code=rule, percent=(rates or {}).get(rule, Decimal(0)), label=rule) if rule else None,
        is_tracked=(native.get("Type") or "Stock") == "Stock",
        updated_at=parse_time(native.get("LastModifiedOn")),
    )


def normalize_availability(native: dict) -> StockLevel:
    """A /ref/productavailability row (one product at one location) as a stock level: what is Available to sell."""
    if not native.get("SKU"):
        raise SkippableRecordError("A Cin7 availability row without a SKU cannot be used.", code="stock_without_sku")
    return StockLevel(
        sku=native["SKU"], quantity=from_json_number(native.get("Available")), location=native.get("Location") or ""
    )
