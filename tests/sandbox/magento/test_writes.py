from decimal import Decimal

import pytest

from sandbox.magento.generator import generate


def D(value):
    return Decimal(str(value))


@pytest.fixture
def generated(stores):
    a, b = stores
    generate(account=b.code, seed=7, customers=15, orders=80)
    return b


def first(store, status, **extra):
    params = {
        "searchCriteria[filter_groups][0][filters][0][field]": "status",
        "searchCriteria[filter_groups][0][filters][0][value]": status,
        "searchCriteria[pageSize]": 50,
        **extra,
    }
    items = store.search("orders", **params).json()["items"]
    assert items, f"the generator made no {status} order"
    return items[0]


def test_comment_with_status_change_is_listed_newest_first(stores):
    a, _ = stores
    body = {"statusHistory": {"comment": "Synced to Xero as INV-0001", "is_customer_notified": 0, "status": "pending"}}
    response = a.post("orders/3/comments", body)
    assert response.status_code == 200 and response.json() is True
    order = a.get("orders/3").json()
    assert order["status_histories"][0]["comment"] == "Synced to Xero as INV-0001"
    assert order["status_histories"][0]["is_customer_notified"] == 0
    assert order["status_histories"][0]["parent_id"] == 3
    assert order["updated_at"] > "2017-08-21 22:22:20"
    a.post("orders/3/comments", {"statusHistory": {"comment": "second"}})
    assert [h["comment"] for h in a.get("orders/3").json()["status_histories"]] == [
        "second",
        "Synced to Xero as INV-0001",
    ]
    assert a.get("orders/3/comments").json()["total_count"] == 2


def test_comment_status_of_the_orders_state_changes_the_order_status(generated):
    order = first(generated, "processing")
    generated.post(f"orders/{order['entity_id']}/comments", {"statusHistory": {"comment": "fraud?", "status": "fraud"}})
    assert generated.get(f"orders/{order['entity_id']}").json()["status"] == "fraud"


def test_comment_on_missing_order_is_404(stores):
    a, _ = stores
    assert a.post("orders/404/comments", {"statusHistory": {"comment": "x"}}).status_code == 404


def test_hold_unhold_and_refusals(generated):
    order = first(generated, "pending")
    path = f"orders/{order['entity_id']}"
    assert generated.post(path + "/hold").json() is True
    held = generated.get(path).json()
    assert (held["state"], held["status"]) == ("holded", "holded")
    again = generated.post(path + "/hold")
    assert again.status_code == 400 and again.json() == {"message": "A hold action is not available."}
    assert generated.post(path + "/unhold").json() is True
    assert (generated.get(path).json()["state"], generated.get(path).json()["status"]) == ("new", "pending")
    assert generated.post(path + "/unhold").json() == {"message": "You cannot remove the hold."}


def test_cancel_answers_true_then_false(generated):
    order = first(generated, "pending")
    path = f"orders/{order['entity_id']}"
    assert generated.post(path + "/cancel").json() is True
    canceled = generated.get(path).json()
    assert (canceled["state"], canceled["status"]) == ("canceled", "canceled")
    assert D(canceled["total_canceled"]) == D(canceled["grand_total"])
    assert all(item["qty_canceled"] == item["qty_ordered"] for item in canceled["items"])
    assert generated.post(path + "/cancel").json() is False


def test_invoice_then_refund_partially_then_fully(generated):
    order = first(generated, "pending")
    oid = order["entity_id"]
    invoice_id = generated.post(f"order/{oid}/invoice", {"capture": True, "notify": True}).json()
    assert isinstance(invoice_id, int)
    invoice = generated.get(f"invoices/{invoice_id}").json()
    paid = generated.get(f"orders/{oid}").json()
    assert invoice["state"] == 2 and invoice["order_id"] == oid
    assert D(invoice["grand_total"]) == D(paid["grand_total"]) == D(paid["total_paid"])
    assert D(invoice["base_grand_total"]) == D(paid["base_grand_total"])
    assert paid["state"] == "processing" and D(paid["total_due"]) == 0
    assert generated.post(f"order/{oid}/invoice", {"capture": True}).status_code == 400

    line = next(i for i in paid["items"] if not i.get("parent_item_id"))
    memo_id = generated.post(
        f"order/{oid}/refund",
        {
            "items": [{"order_item_id": line["item_id"], "qty": 1}],
            "arguments": {"shipping_amount": 0, "adjustment_negative": 2},
        },
    ).json()
    memo = generated.get(f"creditmemo/{memo_id}").json()
    assert memo["adjustment_negative"] == 2 and memo["adjustment"] == -2
    assert D(memo["grand_total"]) == (
        D(memo["subtotal"])
        + D(memo["shipping_amount"])
        + D(memo["discount_amount"])
        + D(memo["tax_amount"])
        + D(memo["discount_tax_compensation_amount"])
        + D(memo["adjustment_positive"])
        - D(memo["adjustment_negative"])
    )
    after = generated.get(f"orders/{oid}").json()
    assert D(after["total_refunded"]) == D(memo["grand_total"])
    assert after["state"] != "closed" or len([i for i in paid["items"] if not i.get("parent_item_id")]) == 1

    rest = generated.post(f"order/{oid}/refund", {}).json()
    closed = generated.get(f"orders/{oid}").json()
    assert closed["state"] == "closed"
    rest_memo = generated.get(f"creditmemo/{rest}").json()
    # Everything paid comes back, less the fee kept on the first refund.
    assert D(memo["grand_total"]) + D(rest_memo["grand_total"]) == D(paid["total_paid"]) - 2
    assert generated.post(f"order/{oid}/refund", {}).json() == {"message": "We can't create creditmemo for the order."}


def test_creditmemos_search_by_order(generated):
    memos = generated.search("creditmemos", **{"searchCriteria[pageSize]": 100}).json()
    assert memos["total_count"] > 0
    order_id = memos["items"][0]["order_id"]
    by_order = generated.search(
        "creditmemos",
        **{
            "searchCriteria[filterGroups][0][filters][0][field]": "order_id",
            "searchCriteria[filterGroups][0][filters][0][value]": str(order_id),
        },
    ).json()
    assert by_order["items"] and all(m["order_id"] == order_id for m in by_order["items"])


def test_stock_read_and_update(generated):
    products = generated.search("products", **{"searchCriteria[pageSize]": 5}).json()
    assert products["total_count"] > 5
    sku = next(p["sku"] for p in products["items"] if p["type_id"] == "simple")
    stock = generated.get(f"stockItems/{sku}").json()
    response = generated.put(
        f"products/{sku}/stockItems/{stock['item_id']}", {"stockItem": {"qty": 42, "is_in_stock": True}}
    )
    assert response.status_code == 200 and response.json() == stock["item_id"]
    assert generated.get(f"stockItems/{sku}").json()["qty"] == 42
    assert generated.get(f"products/{sku}").json()["extension_attributes"]["stock_item"]["qty"] == 42
    missing = generated.put("products/NOPE/stockItems/1", {"stockItem": {"qty": 1}})
    assert missing.status_code == 404


def test_refund_can_return_items_to_stock(generated):
    order = first(generated, "processing")
    line = next(i for i in order["items"] if not i.get("parent_item_id") and i["qty_refunded"] < i["qty_invoiced"])
    before = generated.get(f"stockItems/{line['sku']}").json()["qty"]
    generated.post(
        f"order/{order['entity_id']}/refund",
        {
            "items": [{"order_item_id": line["item_id"], "qty": 1}],
            "arguments": {"shipping_amount": 0, "extension_attributes": {"return_to_stock_items": [line["item_id"]]}},
        },
    )
    assert generated.get(f"stockItems/{line['sku']}").json()["qty"] == before + 1
