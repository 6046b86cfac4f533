"""The Gorgias simulator as a client sees it: Basic auth, cursor paging, error shapes, the payload example."""

import io
import json
from decimal import Decimal

from django.core.management import call_command

from sandbox.faults import fault_profile_set
from sandbox.gorgias.generator import generate
from sandbox.gorgias.loader import load_records
from tests.sandbox.gorgias.conftest import client_for


def test_wrong_credentials_are_401_in_gorgias_shape(helpdesk_a, helpdesk_b):
    for client in (client_for(helpdesk_a, key="wrong"), client_for(helpdesk_a, key=helpdesk_b.api_key),
                   client_for(helpdesk_a, email=helpdesk_b.email)):  # fmt: skip
        with client:
            response = client.get("customers")
            assert response.status_code == 401
            assert set(response.json()) == {"error"} and response.json()["error"]["msg"]


def test_example_customer_loads_unchanged_and_comes_back_identical(client_a, helpdesk_a, customer_payload):
    counts = load_records(account=helpdesk_a.domain, data=customer_payload)
    assert counts["customers"] == 1
    assert client_a.get("customers/3924").json() == customer_payload["customer"]
    listed = client_a.get("customers").json()
    assert listed["data"] == [customer_payload["customer"]]
    assert listed["object"] == "list" and listed["meta"] == {"prev_cursor": None, "next_cursor": None}


def test_customers_found_by_email(client_a, helpdesk_a, customer_payload):
    load_records(account=helpdesk_a.domain, data=customer_payload["customer"])
    generate(account=helpdesk_a.domain, seed=2, customers=10, orders=5)
    found = client_a.get("customers", params={"email": "JOHN@example.com"}).json()["data"]
    assert [c["id"] for c in found] == [3924]
    assert client_a.get("customers", params={"email": "nobody@example.com"}).json()["data"] == []


def test_one_helpdesk_never_sees_anothers_records(client_a, client_b, helpdesk_a, customer_payload):
    load_records(account=helpdesk_a.domain, data=customer_payload)
    generate(account=helpdesk_a.domain, seed=3, customers=5, orders=5)
    assert client_b.get("customers").json()["data"] == []
    assert client_b.get("tickets").json()["data"] == []
    missing = client_b.get("customers/3924")
    assert missing.status_code == 404 and missing.json() == {"error": {"msg": "Resource not found."}}


def test_cursor_paging_walks_forward_and_back_without_gaps(client_a, helpdesk_a):
    generate(account=helpdesk_a.domain, seed=4, customers=23, orders=0)
    pages, cursor = [], None
    while True:
        params = {"limit": 10} | ({"cursor": cursor} if cursor else {})
        body = client_a.get("customers", params=params).json()
        pages.append(body)
        cursor = body["meta"]["next_cursor"]
        if cursor is None:
            break
    ids = [c["id"] for page in pages for c in page["data"]]
    assert [len(p["data"]) for p in pages] == [10, 10, 3]
    assert len(set(ids)) == 23
    created = [c["created_datetime"] for page in pages for c in page["data"]]
    assert created == sorted(created, reverse=True)  # default order_by created_datetime:desc
    assert pages[0]["meta"]["prev_cursor"] is None
    back = client_a.get("customers", params={"limit": 10, "cursor": pages[2]["meta"]["prev_cursor"]}).json()
    assert [c["id"] for c in back["data"]] == [c["id"] for c in pages[1]["data"]]


def test_order_by_updated_ascending(client_a, helpdesk_a):
    generate(account=helpdesk_a.domain, seed=5, customers=15, orders=20)
    data = client_a.get("customers", params={"order_by": "updated_datetime:asc", "limit": 100}).json()["data"]
    updated = [c["updated_datetime"] for c in data]
    assert len(data) == 15 and updated == sorted(updated)


def test_bad_paging_parameters_are_400_with_field_errors(client_a):
    for params, field in (
        ({"limit": 101}, "limit"),
        ({"order_by": "name:asc"}, "order_by"),
        ({"cursor": "zzz"}, "cursor"),
    ):
        response = client_a.get("customers", params=params)
        assert response.status_code == 400
        assert field in response.json()["error"]["data"]


def test_generated_orders_add_up_to_the_cent(client_a, helpdesk_a):
    counts = generate(account=helpdesk_a.domain, seed=6, customers=30, orders=120)
    fault_profile_set(system="gorgias", account=helpdesk_a.domain, rate_limits_enabled=False)
    orders = [
        order
        for customer in client_a.get("customers", params={"limit": 100}).json()["data"]
        for integration in customer["integrations"].values()
        for order in integration["orders"]
    ]
    assert len(orders) == counts["orders"] == 120
    seen = set()
    for order in orders:
        d = Decimal
        lines = order["line_items"]
        gross = sum((d(li["price"]) * li["quantity"] for li in lines), d(0))
        discounts = sum((d(a["amount"]) for li in lines for a in li["discount_allocations"]), d(0))
        taxes = sum((d(t["price"]) for li in lines + order["shipping_lines"] for t in li["tax_lines"]), d(0))
        shipping = sum((d(s["price"]) for s in order["shipping_lines"]), d(0))
        assert d(order["total_line_items_price"]) == gross
        assert d(order["total_discounts"]) == discounts
        assert d(order["subtotal_price"]) == gross - discounts
        assert d(order["total_tax"]) == taxes
        expected = gross - discounts + shipping + (0 if order["taxes_included"] else taxes)
        assert d(order["total_price"]) == expected
        for line in lines:
            for tax in line["tax_lines"]:
                base = d(line["price"]) * line["quantity"] - sum(
                    (d(a["amount"]) for a in line["discount_allocations"]), d(0)
                )
                rate = d(str(tax["rate"]))
                exact = base * rate / (1 + rate) if order["taxes_included"] else base * rate
                assert abs(d(tax["price"]) - exact) <= d("0.005")
        refunded = sum((d(t["amount"]) for r in order["refunds"] for t in r["transactions"]), d(0))
        assert refunded <= d(order["total_price"])
        if order["financial_status"] == "refunded":
            assert refunded == d(order["total_price"]) and order["cancelled_at"]
        seen |= {order["financial_status"], order["currency"], "inclusive" if order["taxes_included"] else "exclusive"}
        if discounts:
            seen.add("discount")
        if len(lines) > 1:
            seen.add("multi-line")
    assert {"paid", "refunded", "partially_refunded", "voided", "inclusive", "exclusive", "discount", "multi-line",
            "USD", "EUR"} <= seen  # fmt: skip


def test_duplicate_names_have_different_emails(client_a, helpdesk_a):
    counts = generate(account=helpdesk_a.domain, seed=7, customers=60, orders=0)
    data = client_a.get("customers", params={"limit": 100}).json()["data"]
    names = [c["name"] for c in data]
    assert counts["duplicate_customer_names"] > 0 and len(set(names)) < len(names)
    assert len({c["email"] for c in data}) == 60


def test_tickets_list_and_detail_with_messages(client_a, helpdesk_a):
    counts = generate(account=helpdesk_a.domain, seed=8, customers=10, orders=3, tickets=6)
    tickets = client_a.get("tickets").json()["data"]
    assert len(tickets) == counts["tickets"] == 6
    detail = client_a.get(f"tickets/{tickets[0]['id']}").json()
    assert len(detail["messages"]) == detail["messages_count"] >= 1
    messages = client_a.get(f"tickets/{tickets[0]['id']}/messages").json()
    assert {m["id"] for m in messages["data"]} == {m["id"] for m in detail["messages"]}
    customer_id = tickets[0]["customer"]["id"]
    mine = client_a.get("tickets", params={"customer_id": customer_id}).json()["data"]
    assert mine and all(t["customer"]["id"] == customer_id for t in mine)


def test_account_command_prints_one_json_object_and_is_idempotent(db):
    first, second = io.StringIO(), io.StringIO()
    call_command("sandbox_gorgias_account", "--domain", "acme", "--json", stdout=first)
    call_command("sandbox_gorgias_account", "--domain", "acme", "--json", stdout=second)
    one = json.loads(first.getvalue())
    assert one == json.loads(second.getvalue())
    assert one["base_url"].endswith("/sandbox/gorgias/acme/api/") and one["domain"] == "acme"
    assert one["email"] and one["api_key"]
    with client_for(type("A", (), one)()) as client:
        assert client.get("customers").status_code == 200
