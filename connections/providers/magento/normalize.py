"""Magento 2 native records → canonical records.

Facts (research/sources.md §1): dates are "YYYY-MM-DD HH:MM:SS" in UTC; the order header's discount_amount is
negative while an item's is positive; a configurable product is a parent row carrying the price plus a child row
(parent_item_id set) carrying nothing; a dynamic bundle prices its children instead. Whether catalogue prices
include tax is a store setting, not a field of the order, so the connection says it.
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
    TaxKey,
)
from core.money import UNIT_PRICE_4DP, from_json_number, quantize


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)


def _money(value) -> Decimal:
    return quantize(from_json_number(value))


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
