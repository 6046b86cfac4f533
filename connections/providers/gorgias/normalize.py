"""Gorgias native records → canonical records.

Gorgias is a helpdesk: its customers are contacts, and the shop orders its integrations pulled in sit inside each
customer (`integrations["<integration id>"].orders`, Shopify-shaped, research/sources.md §2.2). Facts we rely on:
customer times are ISO 8601 without a zone (UTC); order times carry an offset; money is decimal strings; a line's
discount is in `discount_allocations`; tax is per `tax_lines` entry (`rate` a fraction, `price` the amount);
`taxes_included` says whether prices hold the tax; `total_price = subtotal_price + shipping (+ total_tax unless
taxes_included)`.

Ids: a customer's id; "<customer id>:<order id>" for an order and "<customer id>:<order id>:<refund id>" for a
refund, so either can be fetched through its customer. Orders and refunds carry `_context` (added by the adapter):
the customer ({id, email, name, firstname, lastname}) and, for a refund, its order.

Refunds are in the order's tax basis (see connections.sources): line amounts are Shopify's refund line `subtotal`;
what the refund transactions paid beyond the lines is the shipping when it matches the order's shipping exactly,
else an adjustment (more) or a fee (less).
"""

from datetime import UTC, datetime
from decimal import Decimal

from connections.canonical import (
    ZERO,
    Contact,
    LineKind,
    Note,
    Order,
    OrderLine,
    Refund,
    RefundLine,
    TaxKey,
)
from core.errors import SkippableRecordError
from core.money import UNIT_PRICE_4DP, from_json_number, quantize
from core.money import json_amount as _money

HUNDRED = Decimal(100)


def parse_time(value) -> datetime | None:
    """ISO 8601 with or without an offset (none means UTC) as an aware UTC datetime; None when unreadable."""
    if not value or not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def _context(native: dict) -> dict:
    return native.get("_context") or {}


def normalize_customer(native: dict) -> Contact:
    """A Gorgias customer (GET /api/customers/{id}) as a canonical contact."""
    name = (native.get("name") or "").strip()
    first = native.get("firstname") or (name.split(" ", 1)[0] if name else "")
    last = native.get("lastname") or (name.split(" ", 1)[1] if " " in name else "")
    channels = native.get("channels") or []
    phone = next((c.get("address") for c in channels if c.get("type") in ("phone", "sms") and c.get("address")), "")
    email = native.get("email") or next(
        (c.get("address") for c in channels if c.get("type") == "email" and c.get("address")), ""
    )
    return Contact(
        source_id=str(native["id"]),
        email=(email or "").strip().lower(),
        first_name=first or "",
        last_name=last or "",
        phone=phone or "",
        updated_at=parse_time(native.get("updated_datetime")) or parse_time(native.get("created_datetime")),
    )


NOTE_MAX = 250  # Xero keeps at most 250 characters per history note (research/xero.md §8)


def normalize_ticket(native: dict) -> Note:
    """A support ticket (GET /api/tickets/{id}) as a short note for its customer's history in Xero.

    One note per ticket, written when the ticket is first seen: "Gorgias ticket #123 (email, 2 messages): subject".
    """
    customer_id = (native.get("customer") or {}).get("id")
    if customer_id is None:
        raise SkippableRecordError(
            f"Gorgias ticket {native.get('id')} has no customer.", code="ticket_without_customer"
        )
    count = native.get("messages_count") or 0
    details = [native.get("channel") or "", f"{count} message{'' if count == 1 else 's'}" if count else ""]
    opened = parse_time(native.get("created_datetime"))
    if opened is not None:
        details.insert(0, f"opened {opened.date().isoformat()}")
    about = ", ".join(d for d in details if d)
    subject = (native.get("subject") or native.get("excerpt") or "(no subject)").strip()
    text = (
        f"Gorgias ticket #{native['id']} ({about}): {subject}"
        if about
        else f"Gorgias ticket #{native['id']}: {subject}"
    )
    return Note(
        source_id=f"ticket:{native['id']}",
        contact_source_id=str(customer_id),
        text=text[:NOTE_MAX],
        created_at=opened,
    )


def tax_key(tax_lines: list[dict]) -> TaxKey:
    """The tax key of Shopify tax lines: "<title> <percent>%" (titles alone repeat across rates), or rate 0."""
    applied = [t for t in tax_lines or [] if from_json_number(t.get("rate"))]
    if not applied:
        return TaxKey.from_rate(0)
    parts = []
    for tax in applied:
        percent = (from_json_number(tax.get("rate")) * HUNDRED).normalize()
        title = tax.get("title") or "Tax"
        parts.append((f"{title} {format(percent, 'f')}%", percent, title))
    return TaxKey(
        code="+".join(code for code, _, _ in parts),
        percent=sum((percent for _, percent, _ in parts), Decimal(0)),
        label=" + ".join(title for _, _, title in parts),
    )


def _discount(native: dict) -> Decimal:
    allocated = sum((from_json_number(d.get("amount")) for d in native.get("discount_allocations") or []), ZERO)
    return quantize(allocated or from_json_number(native.get("total_discount")))


def _tax(native: dict) -> Decimal:
    return quantize(sum((from_json_number(t.get("price")) for t in native.get("tax_lines") or []), ZERO))


def _contact(customer: dict, order: dict) -> Contact:
    if customer.get("id") is not None:
        return normalize_customer({**customer, "email": customer.get("email") or order.get("email")})
    email = (order.get("email") or "").lower()
    return Contact(source_id=f"guest:{email}", email=email)


def _order_updated(native: dict) -> datetime | None:
    stamps = [native.get("updated_at"), native.get("cancelled_at"), native.get("created_at")]
    stamps += [r.get("created_at") for r in native.get("refunds") or []]
    parsed = [parse_time(s) for s in stamps if s]
    return max((p for p in parsed if p), default=None)


def normalize_order(native: dict) -> Order:
    """A shop order from a customer's integrations data (with `_context.customer`) as a canonical order."""
    customer = _context(native).get("customer") or {}
    customer_id = customer.get("id")
    lines = []
    for item in native.get("line_items") or []:
        quantity = from_json_number(item.get("quantity"))
        unit_price = quantize(from_json_number(item.get("price")), UNIT_PRICE_4DP)
        discount = _discount(item)
        lines.append(
            OrderLine(
                line_id=str(item.get("id")),
                kind=LineKind.PRODUCT,
                description=item.get("title") or item.get("name") or item.get("sku") or "",
                quantity=quantity,
                unit_price=unit_price,
                discount=discount,
                tax=_tax(item),
                total=quantize(quantity * unit_price) - discount,
                tax_key=tax_key(item.get("tax_lines")),
                sku=item.get("sku") or "",
            )
        )
    shipping_total = ZERO
    for shipping in native.get("shipping_lines") or []:
        price = _money(shipping.get("price"))
        discount = _discount(shipping)
        shipping_total += price
        lines.append(
            OrderLine(
                line_id=f"shipping:{shipping.get('id')}",
                kind=LineKind.SHIPPING,
                description=shipping.get("title") or "Shipping",
                quantity=Decimal(1),
                unit_price=quantize(price, UNIT_PRICE_4DP),
                discount=discount,
                tax=_tax(shipping),
                total=price - discount,
                tax_key=tax_key(shipping.get("tax_lines")),
            )
        )
    created = parse_time(native.get("created_at"))
    subtotal = native.get("total_line_items_price")
    return Order(
        source_id=f"{customer_id}:{native['id']}" if customer_id is not None else str(native["id"]),
        number=str(native.get("name") or native.get("order_number") or native["id"]),
        currency=native.get("currency") or "",
        tax_inclusive=bool(native.get("taxes_included")),
        lines=tuple(lines),
        subtotal=_money(subtotal)
        if subtotal is not None
        else quantize(sum((quantize(x.quantity * x.unit_price) for x in lines if x.kind == LineKind.PRODUCT), ZERO)),
        tax_total=_money(native.get("total_tax")),
        discount_total=_money(native.get("total_discounts")),
        shipping_total=shipping_total,
        grand_total=_money(native.get("total_price")),
        status=native.get("financial_status") or "",
        is_cancelled=bool(native.get("cancelled_at")),
        created_at=created,
        updated_at=_order_updated(native) or created,
        contact=_contact(customer, native),
        is_guest=customer_id is None,
        channel=f"gorgias:{_context(native).get('integration_id')}" if _context(native).get("integration_id") else "",
    )


def normalize_refund(native: dict) -> Refund:
    """A Shopify refund inside an order (with `_context.order` and `_context.customer`) as a canonical refund."""
    context = _context(native)
    order = context.get("order") or {}
    customer_id = (context.get("customer") or {}).get("id")
    inclusive = bool(order.get("taxes_included"))
    originals = {str(item.get("id")): item for item in order.get("line_items") or []}
    lines = []
    for row in native.get("refund_line_items") or []:
        original = originals.get(str(row.get("line_item_id"))) or row.get("line_item") or {}
        lines.append(
            RefundLine(
                line_id=str(row.get("line_item_id")),
                description=original.get("title") or original.get("name") or original.get("sku") or "",
                quantity=from_json_number(row.get("quantity")),
                amount=_money(row.get("subtotal")),
                tax=_money(row.get("total_tax")),
                tax_key=tax_key(original.get("tax_lines")),
                sku=original.get("sku") or "",
            )
        )
    transactions = [
        t
        for t in native.get("transactions") or []
        if t.get("kind") == "refund" and (t.get("status") or "success") == "success"
    ]
    if not transactions and not lines:
        raise SkippableRecordError(f"Gorgias refund {native.get('id')} returned nothing.", code="empty_refund")
    total = quantize(sum((from_json_number(t.get("amount")) for t in transactions), ZERO))
    in_lines = sum((x.amount for x in lines), ZERO) + (ZERO if inclusive else sum((x.tax for x in lines), ZERO))
    remainder = total - in_lines
    shipping_lines = order.get("shipping_lines") or []
    ship_price = quantize(sum((from_json_number(s.get("price")) for s in shipping_lines), ZERO))
    ship_tax = quantize(sum((_tax(s) for s in shipping_lines), ZERO))
    shipping = ZERO
    if remainder and remainder == ship_price + (ZERO if inclusive else ship_tax):
        shipping, remainder = ship_price, ZERO
    order_id = order.get("id")
    prefix = f"{customer_id}:{order_id}" if customer_id is not None else str(order_id)
    return Refund(
        source_id=f"{prefix}:{native['id']}",
        order_source_id=prefix,
        number=f"{order.get('name') or order_id}-R{native['id']}",
        currency=(transactions[0].get("currency") if transactions else None) or order.get("currency") or "",
        lines=tuple(lines),
        shipping=shipping,
        adjustment=remainder if remainder > 0 else ZERO,
        fee=-remainder if remainder < 0 else ZERO,
        total=total,
        refunded_at=parse_time(native.get("created_at")) or parse_time(native.get("processed_at")),
    )
