"""Issue 7's scenarios for a partner system, pushed through the ingest API and read back from the sandbox Xero: an
order with 7 lines (a discount, shipping, two tax rates), an order edited after invoicing (updated while unpaid,
needs attention once paid) and a cancelled order (voided). The foreign-currency order, the payment that arrives
before its invoice and the refund of one line are in test_partner_flow. Two tenants, two agencies' keys.
"""

from decimal import Decimal

import pytest

from core.money import quantize
from sync.models import CrossReference, SyncJob
from tenants.scoping import tenant_scope
from tests.sync.flow_helpers import (
    held_causes,
    sync_until_idle,
    xero_invoice,
    xero_read,
)
from tests.sync.test_partner_flow import CONTACTS, _partner, _push

pytestmark = pytest.mark.django_db
RATES = {"GST": Decimal(10), "FREE": Decimal(0)}


def _line(n: int, quantity: int, price: str, *, discount="0.00", tax_code="GST", kind="product") -> dict:
    net = quantize(Decimal(quantity) * Decimal(price) - Decimal(discount))
    line = {
        "line_id": str(n),
        "description": "Shipping" if kind == "shipping" else f"Product {n}",
        "quantity": str(quantity),
        "unit_price": price,
        "discount": discount,
        "tax": str(quantize(net * RATES[tax_code] / 100)),
        "tax_code": tax_code,
        "tax_rate": str(RATES[tax_code]),
        "kind": kind,
    }
    if kind == "product":
        line["sku"] = f"SKU-{n}"
    return line


def _order(order_id: str, lines: list[dict], *, updated="2025-04-01T10:00:00Z", **extra) -> dict:
    net = sum(quantize(Decimal(x["quantity"]) * Decimal(x["unit_price"]) - Decimal(x["discount"])) for x in lines)
    total = net + sum(Decimal(x["tax"]) for x in lines)
    return {"id": order_id, "currency": "AUD", "created_at": "2025-04-01T10:00:00Z", "updated_at": updated,
            "grand_total": str(total), "contact": CONTACTS[0], "payment_method": "card", "lines": lines,
            **extra}  # fmt: skip


SEVEN = [
    _line(1, 2, "12.50", discount="2.50"),
    _line(2, 1, "30.00", tax_code="FREE"),
    _line(3, 3, "4.99"),
    _line(4, 1, "129.00", discount="12.90"),
    _line(5, 4, "2.35", tax_code="FREE"),
    _line(6, 1, "18.75"),
    _line(7, 2, "7.45", discount="1.49"),
    _line(8, 1, "9.95", kind="shipping"),
]


def test_a_partner_order_with_seven_lines_an_edit_and_a_cancel(world, api):
    mine, other = world.tenant_a1, world.tenant_b1
    other_xero, other_source = _partner(other, world.agency_b, api, name="scen-b")
    _push(api, other, "orders", [_order("B-1", SEVEN[:2])])
    theirs = sync_until_idle(other, other_xero, other_source, poll=False)
    their_invoices = xero_read(other_xero, "Invoices")

    xero, source = _partner(mine, world.agency_a, api, name="scen-a")
    products = [{"id": f"P-{n}", "sku": f"SKU-{n}", "name": f"Product {n}", "price": "1.00"} for n in range(1, 8)]
    _push(api, mine, "products", products)
    sync_until_idle(mine, xero, source, poll=False)  # the items exist in Xero before the orders arrive
    seven, edited, cancelled = _order("SO-7", SEVEN), _order("SO-E", SEVEN[:2]), _order("SO-C", SEVEN[2:4])
    _push(api, mine, "orders", [seven, edited, cancelled])
    xrefs = sync_until_idle(mine, xero, source, poll=False)
    with tenant_scope(mine):
        assert not held_causes(xero), held_causes(xero)

    invoice = xero_invoice(xero, xrefs[("invoice", "SO-7")])
    assert invoice["Total"] == Decimal(seven["grand_total"]) and invoice["Reference"] == "SO-7"
    assert invoice["TotalTax"] == sum(Decimal(x["tax"]) for x in SEVEN)
    assert len(invoice["LineItems"]) == 8
    for sent, line in zip(SEVEN, invoice["LineItems"], strict=True):
        assert (line["Description"], line["Quantity"], line["UnitAmount"]) == (
            sent["description"],
            Decimal(sent["quantity"]),
            Decimal(sent["unit_price"]),
        )
        assert line.get("DiscountAmount", Decimal(0)) == Decimal(sent["discount"])
        assert line["TaxAmount"] == Decimal(sent["tax"]) and line.get("ItemCode") == sent.get("sku")
    assert len({line["TaxType"] for line in invoice["LineItems"]}) == 2
    assert invoice["LineItems"][-1]["AccountCode"] != invoice["LineItems"][0]["AccountCode"]  # shipping's own

    # An edit before any payment updates the same invoice.
    invoice_id = xrefs[("invoice", "SO-E")]
    bigger = _order("SO-E", SEVEN[:3], updated="2025-04-02T10:00:00Z")
    _push(api, mine, "orders", [bigger, {**cancelled, "is_cancelled": True, "updated_at": "2025-04-02T10:00:00Z"}])
    xrefs = sync_until_idle(mine, xero, source, poll=False)
    assert xrefs[("invoice", "SO-E")] == invoice_id
    updated = xero_invoice(xero, invoice_id)
    assert (updated["Status"], updated["Total"], len(updated["LineItems"])) == (
        "AUTHORISED",
        Decimal(bigger["grand_total"]),
        3,
    )
    # The cancelled order's invoice is voided.
    assert xero_invoice(xero, xrefs[("invoice", "SO-C")])["Status"] == "VOIDED"

    # Paid in full, then edited again: Xero cannot change a paid invoice, a person decides.
    payment = {"id": "PAY-E", "order_id": "SO-E", "amount": bigger["grand_total"], "currency": "AUD",
               "method": "card", "paid_at": "2025-04-03T10:00:00Z"}  # fmt: skip
    _push(api, mine, "payments", [payment])
    sync_until_idle(mine, xero, source, poll=False)
    paid = xero_invoice(xero, invoice_id)
    assert paid["Status"] == "PAID"
    _push(api, mine, "orders", [_order("SO-E", SEVEN[:4], updated="2025-04-04T10:00:00Z")])
    sync_until_idle(mine, xero, source, poll=False, held_allowed=True)
    with tenant_scope(mine):
        (held,) = SyncJob.objects.filter(state=SyncJob.State.NEEDS_ATTENTION)
    assert held.cause.startswith("Order SO-E was edited") and "does not allow changing" in held.cause
    assert xero_invoice(xero, invoice_id) == paid

    with tenant_scope(other):
        assert {(x.entity, x.source_id): x.xero_id for x in CrossReference.objects.all()} == theirs
    assert xero_read(other_xero, "Invoices") == their_invoices
