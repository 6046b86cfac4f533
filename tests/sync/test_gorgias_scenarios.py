"""Issue 7's scenarios for the shop orders Gorgias embeds in its customers' integrations data: an order with 7 lines
(a discount, shipping, GST and GST-free lines), the same order edited after its invoice reached Xero (updated), one
unit of one line refunded (a credit note with that line, allocated) and another order cancelled (voided). Gorgias
has no payments, so there is no payment to arrive early. Two tenants; the other one's Xero is untouched.
"""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from sandbox.gorgias.generator import money
from sandbox.gorgias.loader import load_records
from sandbox.gorgias.models import GorgiasRecord
from sync.models import CrossReference
from tenants.scoping import tenant_scope
from tests.sync.flow_helpers import (
    sync_until_idle,
    xero_invoice,
    xero_read,
)
from tests.sync.test_gorgias_flow import _helpdesk, _records

pytestmark = pytest.mark.django_db
CENT = Decimal("0.01")
GST = Decimal("0.1")


def _line(n: int, sku: str, price: str, quantity: int, *, discount="0.00", taxed=True) -> dict:
    net = Decimal(price) * quantity - Decimal(discount)
    tax = (net * GST).quantize(CENT) if taxed else Decimal(0)
    return {"id": 7700 + n, "sku": sku, "name": f"Item {sku}", "title": f"Item {sku}", "taxable": taxed,
            "price": price, "quantity": quantity, "price_set": money(Decimal(price), "AUD"), "total_discount": "0.00",
            "discount_allocations": [{"amount": discount, "amount_set": money(Decimal(discount), "AUD")}]
            if Decimal(discount) else [],
            "tax_lines": [{"rate": 0.1, "price": f"{tax:.2f}", "title": "GST", "price_set": money(tax, "AUD")}]
            if taxed else []}  # fmt: skip


def _totals(order: dict) -> dict:
    """Shopify's header amounts from the lines and shipping of a tax-exclusive order."""
    lines = order["line_items"]
    gross = sum(Decimal(x["price"]) * x["quantity"] for x in lines)
    discounts = sum(Decimal(d["amount"]) for x in lines for d in x["discount_allocations"])
    shipping = Decimal(order["shipping_lines"][0]["price"])
    taxes = sum(Decimal(t["price"]) for x in [*lines, *order["shipping_lines"]] for t in x["tax_lines"])
    return order | {"total_line_items_price": f"{gross:.2f}", "total_discounts": f"{discounts:.2f}",
                    "subtotal_price": f"{gross - discounts:.2f}", "total_tax": f"{taxes:.2f}",
                    "total_price": f"{gross - discounts + shipping + taxes:.2f}"}  # fmt: skip


SEVEN = [
    _line(1, "TEA-001", "8.50", 2, discount="1.70"),
    _line(2, "MUG-002", "14.00", 1),
    _line(3, "KET-003", "59.90", 1, discount="5.99"),
    _line(4, "CUP-004", "19.95", 3, taxed=False),
    _line(5, "BEAN-005", "32.00", 1),
    _line(6, "FIL-006", "4.99", 4, taxed=False),
    _line(7, "GRN-007", "89.00", 1),
]
SHIPPING = [
    {
        "id": 7799,
        "title": "Standard",
        "code": "STD",
        "price": "9.90",
        "price_set": money(Decimal("9.90"), "AUD"),
        "tax_lines": [{"rate": 0.1, "price": "0.99", "title": "GST", "price_set": money(Decimal("0.99"), "AUD")}],
    }
]


def _stamp(days: int) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%S.%f")


def _save(account, customer: dict, order: dict, *, days: int) -> None:
    """Put the order (new or changed) into the customer's shop integration and save the customer as changed."""
    data = customer["integrations"].setdefault("77", {"orders": []})
    data["orders"] = [o for o in data["orders"] if o["id"] != order["id"]] + [order]
    customer["updated_datetime"] = _stamp(days)
    load_records(account=account.domain, data=customer)


def test_a_seven_line_shop_order_edited_partly_refunded_and_another_cancelled(world):
    mine, other = world.tenant_a1, world.tenant_b1
    xero, account, source = _helpdesk(mine, domain="g-scen-a", seed=5, notes=False)
    other_xero, _, other_source = _helpdesk(other, domain="g-scen-b", seed=6, notes=False)
    theirs = sync_until_idle(other, other_xero, other_source)
    their_invoices = xero_read(other_xero, "Invoices")

    customer = _records(account, GorgiasRecord.Kind.CUSTOMER)[0]
    order = _totals({"id": 7777, "name": "#7777", "order_number": 7777, "email": customer["email"],
                     "created_at": "2025-03-01T10:00:00+00:00", "currency": "AUD", "taxes_included": False,
                     "financial_status": "paid", "fulfillment_status": None, "cancelled_at": None,
                     "cancel_reason": None, "discount_codes": [], "line_items": SEVEN, "shipping_lines": SHIPPING,
                     "total_shipping_price_set": money(Decimal("9.90"), "AUD"), "refunds": []})  # fmt: skip
    _save(account, customer, order, days=0)
    xrefs = sync_until_idle(mine, xero, source)
    key = f"{customer['id']}:{order['id']}"
    invoice_id = xrefs[("invoice", key)]
    invoice = xero_invoice(xero, invoice_id)
    assert invoice["Total"] == Decimal(order["total_price"]) and invoice["TotalTax"] == Decimal(order["total_tax"])
    assert invoice["Reference"] == "#7777" and len(invoice["LineItems"]) == 8
    assert len({line["TaxType"] for line in invoice["LineItems"]}) == 2
    for sent, line in zip(SEVEN, invoice["LineItems"], strict=False):
        assert (line["Description"], line["Quantity"], line["UnitAmount"]) == (
            sent["name"],
            sent["quantity"],
            Decimal(sent["price"]),
        )
    assert [line.get("DiscountAmount") for line in invoice["LineItems"][:3]] == [
        Decimal("1.70"),
        None,
        Decimal("5.99"),
    ]

    # Edited after invoicing (a second mug): the same invoice, the new total.
    order["line_items"][1] = _line(2, "MUG-002", "14.00", 2)
    order = _totals(order) | {"updated_at": "2025-03-02T10:00:00+00:00"}
    _save(account, customer, order, days=1)
    xrefs = sync_until_idle(mine, xero, source)
    assert xrefs[("invoice", key)] == invoice_id
    edited = xero_invoice(xero, invoice_id)
    assert edited["Status"] == "AUTHORISED" and edited["Total"] == Decimal(order["total_price"])

    # One kettle comes back: a credit note with that line, allocated to the invoice.
    kettle = SEVEN[2]
    refunded = Decimal("53.91") + Decimal("5.39")  # 59.90 − 5.99 discount, plus its GST
    order["refunds"] = [{"id": 777701, "created_at": "2025-03-05T10:00:00+00:00", "note": "Returned item",
                         "refund_line_items": [{"line_item_id": kettle["id"], "quantity": 1, "subtotal": "53.91",
                                                "total_tax": "5.39"}],
                         "transactions": [{"id": 777702, "kind": "refund", "status": "success",
                                           "amount": f"{refunded:.2f}", "currency": "AUD"}]}]  # fmt: skip
    _save(account, customer, order, days=2)
    xrefs = sync_until_idle(mine, xero, source)
    note = next(
        n for n in xero_read(xero, "CreditNotes") if n["CreditNoteID"] == xrefs[("credit_note", f"{key}:777701")]
    )
    (line,) = note["LineItems"]
    assert (line["Description"], line["Quantity"], note["Total"]) == (kettle["name"], 1, refunded)
    assert note["RemainingCredit"] == 0
    credited = xero_invoice(xero, invoice_id)
    assert credited["AmountCredited"] == refunded
    assert credited["AmountDue"] == Decimal(order["total_price"]) - refunded

    # Another customer's open order is cancelled in the shop: its invoice is voided.
    second = next(
        c
        for c in _records(account, GorgiasRecord.Kind.CUSTOMER)
        if c["id"] != customer["id"]
        and any(
            ("invoice", f"{c['id']}:{o['id']}") in xrefs and not o["refunds"] and not o.get("cancelled_at")
            for o in _orders(c)
        )
    )
    cancelled = next(
        o
        for o in _orders(second)
        if ("invoice", f"{second['id']}:{o['id']}") in xrefs and not o["refunds"] and not o.get("cancelled_at")
    )
    for data in second["integrations"].values():
        for o in data["orders"]:
            if o["id"] == cancelled["id"]:
                o |= {"cancelled_at": "2025-03-06T10:00:00+00:00", "cancel_reason": "customer"}
    second["updated_datetime"] = _stamp(3)
    load_records(account=account.domain, data=second)
    xrefs = sync_until_idle(mine, xero, source)
    assert xero_invoice(xero, xrefs[("invoice", f"{second['id']}:{cancelled['id']}")])["Status"] == "VOIDED"

    with tenant_scope(other):
        assert {(x.entity, x.source_id): x.xero_id for x in CrossReference.objects.all()} == theirs
    assert xero_read(other_xero, "Invoices") == their_invoices


def _orders(customer: dict) -> list[dict]:
    return [o for data in (customer.get("integrations") or {}).values() for o in data.get("orders") or []]
