"""Magento 2 native records → canonical records.

Facts (research/sources.md §1): dates are "YYYY-MM-DD HH:MM:SS" in UTC; the order header's discount_amount is
negative while an item's is positive; a configurable product is a parent row carrying the price plus a child row
(parent_item_id set) carrying nothing; a dynamic bundle prices its children instead. Whether catalogue prices
include tax is a store setting, not a field of the order, so the caller says it (see order_prices_include_tax).

Magento has no payment list: a paid invoice (state 2) is the payment, with the order's payment method; an order's
own payment block (amount_paid) stands in where a store captures without invoicing. A credit memo is a refund:
product lines at what was given back for them (discount taken off), shipping refunded, the "adjustment refund"
(adjustment_positive: extra money back) and the "adjustment fee" (adjustment_negative: kept back, e.g. a
restocking fee), in the order's tax basis, so that

    refund.total == Σ line.amount + shipping + adjustment − fee (+ Σ line.tax + shipping tax when exclusive)

holds to the cent. Records may carry `_context` (added by the adapter, see connections.sources): the order's
payment method for an invoice, the whole order for a credit memo (its tax codes), the SKU for a stock item.
"""

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

INVOICE_PAID = 2
CREDITMEMO_REFUNDED = 2


def parse_time(value: str | None) -> datetime | None:
    """Magento's "YYYY-MM-DD HH:MM:SS" (UTC) as an aware datetime."""
    if not value:
        return None
    if (
        len(value) == 19
        and value.isascii()
        and value[4] == value[7] == "-"
        and value[10] == " "
        and value[13] == value[16] == ":"
    ):
        # The shape Magento writes: fromisoformat reads it exactly as strptime would, at a tenth of the cost (every
        # record polled and every order normalised reads a few).
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    return datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)


def _price(value) -> Decimal:
    return quantize(from_json_number(value), UNIT_PRICE_4DP)


def _address(native: dict, kind: str) -> Address:
    region = native.get("region")
    if isinstance(region, dict):
        region = region.get("region") or region.get("region_code") or ""
    return Address(
        kind=kind,
        lines=tuple(native.get("street") or ()),
        city=native.get("city") or "",
        region=region or "",
        postcode=native.get("postcode") or "",
        country=native.get("country_id") or "",
    )


def normalize_customer(native: dict) -> Contact:
    """A Magento customer (GET /V1/customers/{id}) as a canonical contact."""
    addresses = native.get("addresses") or []
    billing = next((a for a in addresses if a.get("default_billing")), addresses[0] if addresses else None)
    return Contact(
        source_id=str(native["id"]),
        email=(native.get("email") or "").lower(),
        first_name=native.get("firstname") or "",
        last_name=native.get("lastname") or "",
        company=(billing or {}).get("company") or "",
        phone=(billing or {}).get("telephone") or "",
        tax_number=native.get("taxvat") or (billing or {}).get("vat_id") or "",
        group=str(native.get("group_id") or ""),
        addresses=tuple(_address(a, "billing" if a.get("default_billing") else "shipping") for a in addresses),
        updated_at=parse_time(native.get("updated_at")),
    )


def _order_contact(native: dict) -> Contact:
    billing = native.get("billing_address") or {}
    email = (native.get("customer_email") or billing.get("email") or "").lower()
    is_guest = bool(native.get("customer_is_guest")) or not native.get("customer_id")
    return Contact(
        source_id=f"guest:{email}" if is_guest else str(native["customer_id"]),
        email=email,
        first_name=native.get("customer_firstname") or billing.get("firstname") or "",
        last_name=native.get("customer_lastname") or billing.get("lastname") or "",
        company=billing.get("company") or "",
        phone=billing.get("telephone") or "",
        tax_number=native.get("customer_taxvat") or billing.get("vat_id") or "",
        group=str(native.get("customer_group_id") or ""),
        addresses=(_address(billing, "billing"),) if billing else (),
    )


def _applied_taxes(native: dict) -> dict[tuple[str, str | None], TaxKey]:
    """Tax keys by (type, item_id) from extension_attributes.item_applied_taxes, where Magento sends them."""
    keys = {}
    for entry in (native.get("extension_attributes") or {}).get("item_applied_taxes") or []:
        applied = entry.get("applied_taxes") or []
        if not applied:
            continue
        if len(applied) == 1:
            tax = applied[0]
            key = TaxKey(
                code=tax.get("code") or tax.get("title"),
                percent=from_json_number(tax.get("percent")),
                label=tax.get("title") or "",
            )
        else:
            # Several rates on one item (e.g. state + county): one combined key, named by its parts.
            percent = sum((from_json_number(t.get("percent")) for t in applied), Decimal(0))
            key = TaxKey(
                code="+".join(t.get("code") or t.get("title") for t in applied),
                percent=percent,
                label=" + ".join(t.get("title") or t.get("code") for t in applied),
            )
        item_id = entry.get("item_id") or entry.get("associated_item_id")
        keys[(entry.get("type"), str(item_id) if item_id is not None else None)] = key
    return keys


def _priced_items(items: list[dict]) -> list[dict]:
    """The rows that carry the money: configurable parents (not their children), dynamic bundles' children."""
    by_id = {str(item.get("item_id")): item for item in items}
    priced = []
    for item in items:
        parent_id = item.get("parent_item_id")
        if parent_id is None:
            children_priced = item.get("product_type") == "bundle" and any(
                str(c.get("parent_item_id")) == str(item.get("item_id")) and from_json_number(c.get("price"))
                for c in items
            )
            if not children_priced:
                priced.append(item)
        elif by_id.get(str(parent_id), {}).get("product_type") == "bundle" and from_json_number(item.get("price")):
            priced.append(item)
    return priced


def normalize_order(native: dict, *, prices_include_tax: bool = False) -> Order:
    """A Magento order (GET /V1/orders/{id}) as a canonical order, lines in the store's tax basis."""
    taxes = _applied_taxes(native)
    lines = []
    for item in _priced_items(native.get("items") or []):
        quantity = from_json_number(item.get("qty_ordered"))
        discount = _money(item.get("discount_amount"))
        if prices_include_tax:
            unit_price, row = _price(item.get("price_incl_tax")), _money(item.get("row_total_incl_tax"))
        else:
            unit_price, row = _price(item.get("price")), _money(item.get("row_total"))
        tax_key = taxes.get(("product", str(item.get("item_id")))) or TaxKey.from_rate(item.get("tax_percent") or 0)
        lines.append(
            OrderLine(
                line_id=str(item.get("item_id")),
                kind=LineKind.PRODUCT,
                description=item.get("name") or item.get("sku") or "",
                quantity=quantity,
                unit_price=unit_price,
                discount=discount,
                tax=_money(item.get("tax_amount")),
                total=row - discount,
                tax_key=tax_key,
                sku=item.get("sku") or "",
                product_type=item.get("product_type") or "",
            )
        )

    shipping = _money(native.get("shipping_incl_tax") if prices_include_tax else native.get("shipping_amount"))
    if shipping or native.get("shipping_description"):
        shipping_tax = _money(native.get("shipping_tax_amount"))
        shipping_discount = _money(native.get("shipping_discount_amount"))
        net = _money(native.get("shipping_amount"))
        rate = quantize(shipping_tax * 100 / net) if net else ZERO
        lines.append(
            OrderLine(
                line_id="shipping",
                kind=LineKind.SHIPPING,
                description=native.get("shipping_description") or "Shipping",
                quantity=Decimal(1),
                unit_price=quantize(shipping, UNIT_PRICE_4DP),
                discount=shipping_discount,
                tax=shipping_tax,
                total=shipping - shipping_discount,
                tax_key=taxes.get(("shipping", None)) or TaxKey.from_rate(rate),
            )
        )

    payment = native.get("payment") or {}
    contact = _order_contact(native)
    return Order(
        source_id=str(native["entity_id"]),
        number=str(native.get("increment_id") or native["entity_id"]),
        currency=native.get("order_currency_code") or native.get("base_currency_code") or "",
        base_currency=native.get("base_currency_code") or "",
        currency_rate=from_json_number(native.get("base_to_order_rate") or 1),
        tax_inclusive=prices_include_tax,
        lines=tuple(lines),
        subtotal=_money(native.get("subtotal_incl_tax") if prices_include_tax else native.get("subtotal")),
        tax_total=_money(native.get("tax_amount")),
        # Magento's header discount is negative; canonical amounts taken off are positive.
        discount_total=abs(_money(native.get("discount_amount"))),
        shipping_total=shipping,
        grand_total=_money(native.get("grand_total")),
        status=native.get("status") or "",
        is_cancelled=native.get("state") == "canceled",
        created_at=parse_time(native.get("created_at")),
        updated_at=parse_time(native.get("updated_at")) or parse_time(native.get("created_at")),
        contact=contact,
        is_guest=contact.source_id.startswith("guest:"),
        store=str(native.get("store_id") or ""),
        customer_group=str(native.get("customer_group_id") or ""),
        payment_method=payment.get("method") or "",
    )


def order_prices_include_tax(native: dict) -> bool | None:
    """What one order's own numbers say about the store's tax basis: True, or None when they cannot tell.

    Only an inclusive store hides tax in a discount (discount_tax_compensation_amount), and only an inclusive
    store's catalogue price (original_price) is the tax-inclusive one.
    """
    if not _amount_is_zero(native.get("discount_tax_compensation_amount")):
        return True
    for item in native.get("items") or []:
        if not _amount_is_zero(item.get("discount_tax_compensation_amount")):
            return True
        price, incl = item.get("price"), item.get("price_incl_tax")
        original = item.get("original_price")
        if original is not None and not _same_amount(price, incl) and _same_amount(original, incl):
            return True
    return None


# Processing asks this of every order, item by item (a dozen amounts an order): amounts that are plain JSON numbers
# are compared as they are rather than each made a Decimal first, which was most of the question's cost.


def _plain_number(value) -> bool:
    """An int or a finite float (not a bool, a string or a NaN): equal as Decimals exactly when equal as they are,
    since from_json_number reads a float's shortest repr, which two floats share only when they are equal."""
    return type(value) is int or (type(value) is float and value - value == 0)


def _amount_is_zero(value) -> bool:
    """`not from_json_number(value)`, without a Decimal for an absent or plain zero."""
    if value is None or (_plain_number(value) and value == 0):
        return True
    return not from_json_number(value)


def _same_amount(a, b) -> bool:
    """`from_json_number(a) == from_json_number(b)` (None is zero), without Decimals for plain numbers."""
    a = 0 if a is None else a
    b = 0 if b is None else b
    if _plain_number(a) and _plain_number(b):
        return a == b
    return from_json_number(a) == from_json_number(b)


def _context(native: dict) -> dict:
    return native.get("_context") or {}


def normalize_invoice_payment(native: dict) -> Payment:
    """A paid Magento invoice (GET /V1/invoices/{id}) as the payment of its order.

    The payment method and gateway transaction come from the order (`_context`: payment_method, last_trans_id).
    An invoice that is open (state 1, awaiting capture) or cancelled is not a payment: SkippableRecordError.
    """
    if native.get("state") not in (INVOICE_PAID, str(INVOICE_PAID)):
        raise SkippableRecordError(
            f"Magento invoice {native.get('increment_id') or native.get('entity_id')} is not paid.",
            code="invoice_not_paid",
        )
    context = _context(native)
    return Payment(
        source_id=str(native["entity_id"]),
        order_source_id=str(native.get("order_id") or ""),
        amount=_money(native.get("grand_total")),
        currency=native.get("order_currency_code") or native.get("base_currency_code") or "",
        method=context.get("payment_method") or "",
        paid_at=parse_time(native.get("created_at")),
        reference=native.get("transaction_id") or context.get("last_trans_id") or str(native.get("increment_id") or ""),
    )


def normalize_order_payment(native: dict) -> Payment:
    """What an order's payment block says was paid (payment.amount_paid, else total_paid), as one payment.

    For stores that capture without invoicing; its source id is "order:<entity_id>" so it never collides with an
    invoice's. Nothing paid: SkippableRecordError.
    """
    payment = native.get("payment") or {}
    amount = _money(payment.get("amount_paid") or native.get("total_paid"))
    if not amount:
        raise SkippableRecordError(f"Magento order {native.get('increment_id')} has no payment.", code="not_paid")
    return Payment(
        source_id=f"order:{native['entity_id']}",
        order_source_id=str(native["entity_id"]),
        amount=amount,
        currency=native.get("order_currency_code") or native.get("base_currency_code") or "",
        method=payment.get("method") or "",
        paid_at=parse_time(native.get("updated_at")) or parse_time(native.get("created_at")),
        reference=payment.get("last_trans_id") or str(native.get("increment_id") or ""),
    )


def normalize_payment(native: dict) -> Payment:
    """An invoice or an order as a payment (see normalize_invoice_payment, normalize_order_payment)."""
    if "order_id" in native and "payment" not in native:
        return normalize_invoice_payment(native)
    return normalize_order_payment(native)


def _refund_tax_key(row: dict, order: dict | None, taxes: dict, net: Decimal, tax: Decimal) -> TaxKey:
    item_id = str(row.get("order_item_id"))
    key = taxes.get(("product", item_id))
    if key:
        return key
    for item in (order or {}).get("items") or []:
        if str(item.get("item_id")) == item_id and item.get("tax_percent") is not None:
            return TaxKey.from_rate(item.get("tax_percent"))
    # No order to ask: the rate the amounts imply, to the hundredth of a percent.
    return TaxKey.from_rate(quantize(tax * 100 / net) if net else 0)


def normalize_creditmemo(native: dict, *, prices_include_tax: bool = False) -> Refund:
    """A Magento credit memo (GET /V1/creditmemo/{id}) as a canonical refund, amounts in the store's tax basis."""
    if native.get("state") not in (CREDITMEMO_REFUNDED, str(CREDITMEMO_REFUNDED), None):
        raise SkippableRecordError(
            f"Magento credit memo {native.get('increment_id')} is not refunded.", code="creditmemo_not_refunded"
        )
    order = _context(native).get("order")
    taxes = _applied_taxes(order) if order else {}
    lines = []
    for row in native.get("items") or []:
        row_total = _money(row.get("row_total"))
        tax = _money(row.get("tax_amount"))
        discount = _money(row.get("discount_amount"))
        compensation = _money(row.get("discount_tax_compensation_amount"))
        if not (row_total or tax or from_json_number(row.get("price"))):
            # A configurable product's child row: its parent carries the money.
            continue
        lines.append(
            RefundLine(
                line_id=str(row.get("order_item_id") or row.get("entity_id")),
                description=row.get("name") or row.get("sku") or "",
                quantity=from_json_number(row.get("qty")),
                amount=(row_total + tax + compensation if prices_include_tax else row_total) - discount,
                tax=tax,
                tax_key=_refund_tax_key(row, order, taxes, row_total - discount, tax),
                sku=row.get("sku") or "",
            )
        )
    shipping = from_json_number(native.get("shipping_amount"))
    if prices_include_tax:
        shipping += from_json_number(native.get("shipping_tax_amount"))
    return Refund(
        source_id=str(native["entity_id"]),
        order_source_id=str(native.get("order_id") or ""),
        number=str(native.get("increment_id") or native["entity_id"]),
        currency=native.get("order_currency_code") or native.get("base_currency_code") or "",
        lines=tuple(lines),
        shipping=_money(shipping),
        adjustment=_money(native.get("adjustment_positive")),
        fee=_money(native.get("adjustment_negative")),
        total=_money(native.get("grand_total")),
        refunded_at=parse_time(native.get("created_at")),
    )


def _attribute(native: dict, code: str):
    for attribute in native.get("custom_attributes") or []:
        if attribute.get("attribute_code") == code:
            return attribute.get("value")
    return None


def normalize_product(native: dict) -> Product:
    """A Magento product (GET /V1/products/{sku}); its source id is the SKU, which Magento's REST paths key on."""
    stock = (native.get("extension_attributes") or {}).get("stock_item") or {}
    price = native.get("price")
    links = (native.get("extension_attributes") or {}).get("category_links") or []
    return Product(
        source_id=native["sku"],
        sku=native["sku"],
        name=native.get("name") or native["sku"],
        price=_price(price) if price is not None else None,
        description=str(_attribute(native, "short_description") or native.get("name") or ""),
        product_type=native.get("type_id") or "",
        category=str(links[0].get("category_id") or "") if links else "",
        is_tracked=bool(stock.get("manage_stock", native.get("type_id") in ("simple", None))),
        updated_at=parse_time(native.get("updated_at")),
    )


def normalize_stock_item(native: dict) -> StockLevel:
    """A stock item (GET /V1/stockItems/{sku}, or a product's extension_attributes.stock_item) as a level.

    Stock items do not name their SKU, so the adapter adds it (`_context.sku`).
    """
    sku = _context(native).get("sku") or native.get("sku")
    if not sku:
        raise SkippableRecordError("A Magento stock item without its SKU cannot be used.", code="stock_without_sku")
    return StockLevel(sku=sku, quantity=from_json_number(native.get("qty")))
