"""Chosen orders: exactly the lines asked for, amounts that add up in both currencies, answered by the REST API."""

from decimal import Decimal

import pytest

from sandbox.magento import services as magento
from sandbox.magento.chosen import ChosenLine, order_create, order_lines_add
from sandbox.magento.generator import catalog_from_store, generate
from sandbox.magento.models import Customer, Order, Store
from tests.sandbox.magento.test_generator import check_totals


def D(value):
    return Decimal(str(value))


@pytest.fixture
def catalogs(stores):
    """Store A (tax-exclusive USD) and B (tax-inclusive AUD), each with a generated catalog and customers."""
    a, b = stores
    for store, seed in ((a, 1), (b, 2)):
        generate(account=store.code, seed=seed, customers=3, orders=0)
    return [(s, catalog_from_store(Store.objects.get(code=s.code))) for s in (a, b)]


def test_a_chosen_order_has_the_lines_asked_for_and_adds_up(catalogs):
    (a, catalog), (b, _) = catalogs
    simple = [p for p in catalog if not p.children]
    hoodie = next(p for p in catalog if p.children)
    size = hoodie.children[2]
    customer = next(
        c
        for c in a.get("customers/search", **{"searchCriteria[pageSize]": 50}).json()["items"]
        if c["email"] != "jdoe@example.com"
    )
    order = order_create(
        account=a.code,
        lines=[ChosenLine(simple[0].sku, 3), ChosenLine(hoodie.sku, 2, child_sku=size[1])],
        customer_id=customer["id"],
        currency="EUR",
        rate=Decimal("0.9311"),
        coupon=("SAVE10", Decimal(10)),
        shipping="tablerate_bestway",
    )
    assert a.get(f"orders/{order['entity_id']}").json() == order  # stored as the API answers it
    assert not Order.objects.filter(store__code=b.code, entity_id=order["entity_id"]).exists()
    assert (order["order_currency_code"], order["base_currency_code"], order["base_to_order_rate"]) == (
        "EUR",
        "USD",
        0.9311,
    )
    assert order["customer_email"] == customer["email"] and order["coupon_code"] == "SAVE10"
    first, parent, child = order["items"]
    assert (first["sku"], first["qty_ordered"], D(first["base_price"])) == (simple[0].sku, 3, simple[0].price)
    # Magento's configurable rows: the parent carries the child's SKU and all the money, the child nothing.
    assert (parent["product_type"], parent["sku"], D(parent["base_price"])) == ("configurable", size[1], hoodie.price)
    assert (child["parent_item_id"], child["sku"], child["price"], child["row_total"]) == (
        parent["item_id"],
        size[1],
        0,
        0,
    )
    assert D(parent["price"]) == (hoodie.price * Decimal("0.9311")).quantize(Decimal("0.01"))
    assert D(parent["discount_amount"]) == (D(parent["row_total"]) / 10).quantize(Decimal("0.01"))
    assert D(order["shipping_amount"]) == (Decimal("12.50") * Decimal("0.9311")).quantize(Decimal("0.01"))
    check_totals(order, "chosen")


def test_an_added_line_moves_the_totals_past_what_was_invoiced(catalogs):
    (a, catalog), (b, catalog_b) = catalogs
    simple = [p for p in catalog if not p.children]
    order = order_create(account=a.code, lines=[ChosenLine(simple[1].sku)], guest_email="mia.king@example.net")
    assert order["customer_is_guest"] == 1 and order["customer_firstname"] == "Mia"
    magento.invoice_create(store=Store.objects.get(code=a.code), order_id=order["entity_id"])
    paid = a.get(f"orders/{order['entity_id']}").json()
    assert paid["state"] == "processing" and D(paid["total_due"]) == 0

    edited = order_lines_add(account=a.code, order_id=order["entity_id"], lines=[ChosenLine(simple[2].sku, 2)])
    assert [i["sku"] for i in edited["items"]] == [simple[1].sku, simple[2].sku]
    assert D(edited["total_due"]) == D(edited["grand_total"]) - D(paid["grand_total"]) > 0
    assert edited["updated_at"] >= paid["updated_at"]
    assert edited["status_histories"][0]["comment"] == "Order edited: an item was added after invoicing."
    assert len(edited["extension_attributes"]["item_applied_taxes"]) == 3  # two rows and the shipping
    check_totals(edited, "edited")
    assert a.get(f"orders/{order['entity_id']}").json() == edited
    assert (
        b.get("orders", **{"searchCriteria[pageSize]": 1}).json()["total_count"] == 0
    )  # the other store's orders are its own


def test_bad_choices_are_refused_with_the_reason(catalogs):
    (a, catalog), _ = catalogs
    simple = next(p for p in catalog if not p.children)
    hoodie = next(p for p in catalog if p.children)
    known = Customer.objects.filter(store__code=a.code).order_by("-entity_id").first().entity_id
    for options, message in (
        ({"lines": [ChosenLine("NO-SUCH-SKU")], "customer_id": known}, "no product 'NO-SUCH-SKU'"),
        ({"lines": [ChosenLine(hoodie.sku, child_sku="X")], "customer_id": known}, "has no child 'X'"),
        ({"lines": [ChosenLine(simple.sku, child_sku="X")], "customer_id": known}, "is not configurable"),
        ({"lines": [ChosenLine(simple.sku)], "customer_id": 999}, "no customer 999"),
        ({"lines": [ChosenLine(simple.sku)]}, "name a customer_id or a guest_email"),
        ({"lines": [ChosenLine(simple.sku)], "customer_id": known, "shipping": "drone"}, "unknown shipping method"),
    ):
        with pytest.raises(ValueError, match=message):
            order_create(account=a.code, **options)
    assert (
        a.get("orders", **{"searchCriteria[pageSize]": 1}).json()["total_count"] == 1
    )  # only the documented order: nothing half-written
