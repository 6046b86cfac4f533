"""Invoices and credit memos cut from an order document, and what they change on the order.

Pure functions on native dicts (no database), shared by the API's write endpoints and the data generator, so both
produce the same numbers. A portion of a row carries its share of tax and discount; the last portion takes what is
left, so a row invoiced or refunded in several steps always adds up to the row exactly.
"""

from decimal import Decimal

from sandbox.magento.formats import money
from sandbox.magento.totals import ZERO, cents, grand_total, share

CURRENCIES = ("", "base_")

# Per kind of document: the order item fields that record what has been done already.
DONE_FIELDS = {
    "invoice": {
        "qty": "qty_invoiced",
        "row_total": "row_invoiced",
        "tax_amount": "tax_invoiced",
        "discount_amount": "discount_invoiced",
        "discount_tax_compensation_amount": "discount_tax_compensation_invoiced",
    },
    "creditmemo": {
        "qty": "qty_refunded",
        "row_total": "amount_refunded",
        "tax_amount": "tax_refunded",
        "discount_amount": "discount_refunded",
        "discount_tax_compensation_amount": "discount_tax_compensation_refunded",
    },
}
AMOUNT_FIELDS = ("row_total", "tax_amount", "discount_amount", "discount_tax_compensation_amount")


def d(value) -> Decimal:
    """A JSON number from a document as an exact Decimal (the shortest float repr is the amount's digits)."""
    return Decimal(str(value)) if value is not None else ZERO


def _done(item: dict, field: str, prefix: str) -> Decimal:
    return d(item.get(prefix + field) if field != "qty" else item.get(field))


def is_child(item: dict) -> bool:
    return item.get("parent_item_id") not in (None, 0, "")


def portion(item: dict, qty: Decimal, kind: str) -> dict:
    """The amounts `qty` units of an order row carry, per currency: {prefix: {field: Decimal}}."""
    done = DONE_FIELDS[kind]
    ordered = d(item.get("qty_ordered"))
    already = d(item.get(done["qty"]))
    last = qty + already >= ordered
    result = {}
    for prefix in CURRENCIES:
        amounts = {"price": d(item.get(prefix + "price")), "price_incl_tax": d(item.get(prefix + "price_incl_tax"))}
        if is_child(item):
            amounts.update(dict.fromkeys(AMOUNT_FIELDS, ZERO))
        else:
            for field in AMOUNT_FIELDS:
                total = d(item.get(prefix + field))
                if field == "row_total":
                    amounts[field] = cents(amounts["price"] * qty)
                elif last:
                    amounts[field] = total - _done(item, done[field], prefix)
                else:
                    amounts[field] = share(total, qty, ordered)
        amounts["row_total_incl_tax"] = cents(amounts["price_incl_tax"] * qty) if not is_child(item) else ZERO
        result[prefix] = amounts
    return result


def remaining_qty(item: dict, kind: str) -> Decimal:
    """Units of a row still open to invoice, or invoiced and not yet refunded."""
    if kind == "invoice":
        return d(item.get("qty_ordered")) - d(item.get("qty_invoiced")) - d(item.get("qty_canceled"))
    return d(item.get("qty_invoiced")) - d(item.get("qty_refunded"))


def _document_items(order: dict, qtys: dict[int, Decimal], kind: str, first_item_id: int, parent_id: int):
    """Document item rows for the requested quantities (children follow their configurable parent)."""
    rows, sums = (
        [],
        {prefix: dict.fromkeys(AMOUNT_FIELDS, ZERO) | {"row_total_incl_tax": ZERO} for prefix in CURRENCIES},
    )
    next_id = first_item_id
    for item in order["items"]:
        item_id = item["item_id"]
        qty = qtys.get(item["parent_item_id"]) if is_child(item) else qtys.get(item_id)
        if not qty:
            continue
        amounts = portion(item, qty, kind)
        row = {}
        for prefix in ("base_", ""):
            a = amounts[prefix]
            row.update(
                {
                    f"{prefix}discount_amount": money(a["discount_amount"]),
                    f"{prefix}discount_tax_compensation_amount": money(a["discount_tax_compensation_amount"]),
                    f"{prefix}price": money(a["price"]),
                    f"{prefix}price_incl_tax": money(a["price_incl_tax"]),
                    f"{prefix}row_total": money(a["row_total"]),
                    f"{prefix}row_total_incl_tax": money(a["row_total_incl_tax"]),
                    f"{prefix}tax_amount": money(a["tax_amount"]),
                }
            )
            for field in sums[prefix]:
                sums[prefix][field] += a[field]
        if kind == "creditmemo":
            row["base_cost"] = item.get("base_cost", 0) or 0
        row.update(
            {
                "entity_id": next_id,
                "name": item.get("name"),
                "parent_id": parent_id,
                "product_id": item.get("product_id"),
                "sku": item.get("sku"),
                "order_item_id": item_id,
                "qty": money(qty),
            }
        )
        next_id += 1
        rows.append(row)
    return rows, sums


def _header(order: dict, sums: dict, shipping: dict, adjustments: dict) -> dict:
    header = {}
    for prefix in ("base_", ""):
        s, ship = sums[prefix], shipping[prefix]
        adjustment = adjustments[prefix]["positive"] - adjustments[prefix]["negative"]
        tax = s["tax_amount"] + ship["tax"]
        header[prefix] = {
            "subtotal": s["row_total"],
            "subtotal_incl_tax": s["row_total_incl_tax"],
            "discount_amount": -s["discount_amount"],
            "discount_tax_compensation_amount": s["discount_tax_compensation_amount"],
            "shipping_amount": ship["amount"],
            "shipping_tax_amount": ship["tax"],
            "shipping_incl_tax": ship["amount"] + ship["tax"],
            "tax_amount": tax,
            "grand_total": grand_total(
                subtotal=s["row_total"],
                shipping=ship["amount"],
                discount=-s["discount_amount"],
                tax=tax,
                compensation=s["discount_tax_compensation_amount"],
                adjustment=adjustment,
            ),
        }
    return header


def _shipping_left(order: dict, kind: str, include: bool) -> dict:
    done = "shipping_invoiced" if kind == "invoice" else "shipping_refunded"
    done_tax = "shipping_tax_invoiced" if kind == "invoice" else "shipping_tax_refunded"
    result = {}
    for prefix in CURRENCIES:
        if not include:
            result[prefix] = {"amount": ZERO, "tax": ZERO}
            continue
        result[prefix] = {
            "amount": d(order.get(prefix + "shipping_amount")) - d(order.get(prefix + done)),
            "tax": d(order.get(prefix + "shipping_tax_amount")) - d(order.get(prefix + done_tax)),
        }
    return result


def _common_header(order: dict) -> dict:
    keys = (
        "base_currency_code",
        "base_to_global_rate",
        "base_to_order_rate",
        "billing_address_id",
        "global_currency_code",
        "order_currency_code",
        "store_currency_code",
        "store_id",
        "store_to_base_rate",
        "store_to_order_rate",
    )
    return {key: order.get(key) for key in keys if key in order}


def _money_fields(header: dict) -> dict:
    out = {}
    for prefix in ("base_", ""):
        for field, value in header[prefix].items():
            out[prefix + field] = money(value)
    return out


def invoice_build(
    *, order: dict, qtys: dict[int, Decimal], entity_id: int, increment_id: str, first_item_id: int, created_at: str
) -> dict:
    """A paid invoice (state 2) for `qtys` {order item id: qty}; shipping goes on the first invoice."""
    rows, sums = _document_items(order, qtys, "invoice", first_item_id, entity_id)
    first = not d(order.get("shipping_invoiced")) and not d(order.get("total_invoiced"))
    shipping = _shipping_left(order, "invoice", include=first)
    no_adjustment = {prefix: {"positive": ZERO, "negative": ZERO} for prefix in CURRENCIES}
    header = _header(order, sums, shipping, no_adjustment)
    document = {**_common_header(order), **_money_fields(header)}
    document.update(
        {
            "can_void_flag": 0,
            "created_at": created_at,
            "email_sent": 1,
            "entity_id": entity_id,
            "increment_id": increment_id,
            "order_id": order["entity_id"],
            "state": 2,
            "total_qty": money(sum((qtys[k] for k in qtys), ZERO)),
            "updated_at": created_at,
            "items": rows,
            "comments": [],
        }
    )
    if order.get("extension_attributes", {}).get("shipping_assignments"):
        document["shipping_address_id"] = order["extension_attributes"]["shipping_assignments"][0]["shipping"][
            "address"
        ].get("entity_id")
    return dict(sorted(document.items(), key=lambda kv: (kv[0] in ("items", "comments"), kv[0])))


def creditmemo_build(
    *,
    order: dict,
    qtys: dict[int, Decimal],
    entity_id: int,
    increment_id: str,
    first_item_id: int,
    created_at: str,
    refund_shipping: bool,
    adjustment_positive: Decimal = ZERO,
    adjustment_negative: Decimal = ZERO,
    invoice_id: int | None = None,
) -> dict:
    """A refunded credit memo (state 2). Adjustments are in the order currency (a refund fee is negative)."""
    rows, sums = _document_items(order, qtys, "creditmemo", first_item_id, entity_id)
    shipping = _shipping_left(order, "creditmemo", include=refund_shipping)
    rate = d(order.get("base_to_order_rate")) or Decimal(1)
    adjustments = {
        "": {"positive": cents(adjustment_positive), "negative": cents(adjustment_negative)},
        "base_": {"positive": cents(adjustment_positive / rate), "negative": cents(adjustment_negative / rate)},
    }
    header = _header(order, sums, shipping, adjustments)
    document = {**_common_header(order), **_money_fields(header)}
    for prefix in ("base_", ""):
        a = adjustments[prefix]
        document[prefix + "adjustment"] = money(a["positive"] - a["negative"])
        document[prefix + "adjustment_positive"] = money(a["positive"])
        document[prefix + "adjustment_negative"] = money(a["negative"])
    document.update(
        {
            "created_at": created_at,
            "creditmemo_status": 2,
            "email_sent": 0,
            "entity_id": entity_id,
            "increment_id": increment_id,
            "invoice_id": invoice_id,
            "order_id": order["entity_id"],
            "state": 2,
            "updated_at": created_at,
            "items": rows,
            "comments": [],
        }
    )
    return dict(sorted(document.items(), key=lambda kv: (kv[0] in ("items", "comments"), kv[0])))


def _add(target: dict, field: str, amount: Decimal) -> None:
    target[field] = money(d(target.get(field)) + amount)


# What an invoice or a credit memo adds to its order, per item and in total, as (order field, document field)
# without the currency prefix. Magento's names are irregular (row_invoiced but amount_refunded), hence the tables.
INVOICE_ADDS = {
    "qty": "qty_invoiced",
    "item": (
        ("row_invoiced", "row_total"),
        ("tax_invoiced", "tax_amount"),
        ("discount_invoiced", "discount_amount"),
        ("discount_tax_compensation_invoiced", "discount_tax_compensation_amount"),
    ),
    "order": (
        ("total_invoiced", "grand_total"),
        ("total_paid", "grand_total"),
        ("subtotal_invoiced", "subtotal"),
        ("tax_invoiced", "tax_amount"),
        ("shipping_invoiced", "shipping_amount"),
        ("shipping_tax_invoiced", "shipping_tax_amount"),
        ("discount_invoiced", "discount_amount"),
    ),
    "payment": "amount_paid",
}
CREDITMEMO_ADDS = {
    "qty": "qty_refunded",
    "item": (
        ("amount_refunded", "row_total"),
        ("tax_refunded", "tax_amount"),
        ("discount_refunded", "discount_amount"),
        ("discount_tax_compensation_refunded", "discount_tax_compensation_amount"),
    ),
    "order": (
        ("total_refunded", "grand_total"),
        ("total_offline_refunded", "grand_total"),
        ("subtotal_refunded", "subtotal"),
        ("tax_refunded", "tax_amount"),
        ("shipping_refunded", "shipping_amount"),
        ("shipping_tax_refunded", "shipping_tax_amount"),
        ("discount_refunded", "discount_amount"),
        ("adjustment_positive", "adjustment_positive"),
        ("adjustment_negative", "adjustment_negative"),
    ),
    "payment": "amount_refunded",
}


def _order_add(order: dict, document: dict, adds: dict, *, updated_at: str) -> None:
    """Add an invoice's or a credit memo's rows and totals onto its order, in both currencies."""
    by_item = {row["order_item_id"]: row for row in document["items"]}
    for item in order["items"]:
        row = by_item.get(item["item_id"])
        if row is None:
            continue
        _add(item, adds["qty"], d(row["qty"]))
        for prefix in CURRENCIES:
            for field, source in adds["item"]:
                _add(item, prefix + field, d(row[prefix + source]))
        item["updated_at"] = updated_at
    for prefix in CURRENCIES:
        for field, source in adds["order"]:
            _add(order, prefix + field, d(document[prefix + source]))
        payment = order.get("payment")
        if payment is not None:
            _add(payment, prefix + adds["payment"], d(document[prefix + "grand_total"]))


def order_apply_invoice(order: dict, invoice: dict, *, updated_at: str) -> None:
    """Record an invoice on its order: invoiced quantities and amounts, what was paid, state processing."""
    _order_add(order, invoice, INVOICE_ADDS, updated_at=updated_at)
    for prefix in CURRENCIES:
        order[prefix + "total_due"] = money(d(order[prefix + "grand_total"]) - d(order[prefix + "total_paid"]))
    if order.get("state") in ("new", "pending_payment", "payment_review"):
        order["state"], order["status"] = "processing", "processing"
    if order.get("state") == "processing" and _invoiced_and_shipped(order):
        # Magento's order state handler: nothing left to invoice or to ship is a complete order.
        order["state"], order["status"] = "complete", "complete"
    order["updated_at"] = updated_at
    order_sync_shipping_items(order)


def _invoiced_and_shipped(order: dict) -> bool:
    for item in order["items"]:
        if is_child(item):
            continue
        if remaining_qty(item, "invoice") > 0:
            return False
        unshipped = d(item.get("qty_ordered")) - d(item.get("qty_shipped")) - d(item.get("qty_canceled"))
        if not item.get("is_virtual") and unshipped > 0:
            return False
    return True


def order_apply_creditmemo(order: dict, memo: dict, *, updated_at: str) -> None:
    """Record a credit memo on its order; the order closes once everything invoiced has been refunded."""
    _order_add(order, memo, CREDITMEMO_ADDS, updated_at=updated_at)
    fully_refunded = all(
        d(item.get("qty_refunded")) >= d(item.get("qty_invoiced")) for item in order["items"] if not is_child(item)
    )
    if fully_refunded and d(order.get("shipping_refunded")) >= d(order.get("shipping_invoiced")):
        order["state"], order["status"] = "closed", "closed"
    order["updated_at"] = updated_at
    order_sync_shipping_items(order)


def order_sync_shipping_items(order: dict) -> None:
    """Magento repeats the order's items inside each shipping assignment; keep that copy current."""
    for assignment in order.get("extension_attributes", {}).get("shipping_assignments", []) or []:
        if "items" in assignment:
            assignment["items"] = [dict(item) for item in order["items"]]


def order_apply_cancel(order: dict, *, updated_at: str) -> None:
    """Cancel what is not invoiced: qty_canceled and *_canceled amounts; canceled, or complete if part was invoiced."""
    for item in order["items"]:
        item["qty_canceled"] = money(remaining_qty(item, "invoice") + d(item.get("qty_canceled")))
    for prefix in CURRENCIES:
        for field, done in (
            ("grand_total", "total_invoiced"),
            ("subtotal", "subtotal_invoiced"),
            ("tax_amount", "tax_invoiced"),
            ("shipping_amount", "shipping_invoiced"),
            ("discount_amount", "discount_invoiced"),
        ):
            target = "total_canceled" if field == "grand_total" else field.replace("_amount", "") + "_canceled"
            order[prefix + target] = money(d(order.get(prefix + field)) - d(order.get(prefix + done)))
        order[prefix + "total_due"] = 0
    if d(order.get("total_invoiced")):
        order["state"], order["status"] = "complete", "complete"
    else:
        order["state"], order["status"] = "canceled", "canceled"
    order["updated_at"] = updated_at
    order_sync_shipping_items(order)
