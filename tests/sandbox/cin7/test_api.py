"""The Cin7 Core simulator's API as a client sees it: credentials, paths, paging, filters and error shapes."""

import io
import json

from django.core.management import call_command

from sandbox.cin7.generator import generate
from sandbox.cin7.loader import load_records
from sandbox.transport import sandbox_client
from tests.sandbox.cin7.conftest import BASE, auth


def test_missing_credentials_are_refused_with_403_and_cin7_error_model(anonymous):
    response = anonymous.get("customer")
    assert response.status_code == 403
    assert response.json() == {"ErrorCode": 403, "Exception": "Incorrect credentials!"}


def test_another_accounts_key_is_refused(account_a, account_b):
    headers = {"api-auth-accountid": account_a.account_id, "api-auth-applicationkey": account_b.application_key}
    with sandbox_client(base_url="http://testserver" + BASE, headers=headers) as client:
        assert client.get("saleList").status_code == 403


def test_lists_payload_loads_unchanged_and_every_list_comes_back_identical(client_a, account_a, lists_payload):
    counts = load_records(account=account_a.account_id, data=lists_payload)
    assert counts["customers"] == 2 and counts["sale_list_entries"] == 2 and counts["webhooks"] == 1
    for endpoint, section in (
        ("customer", "GET /customer"),
        ("saleList", "GET /saleList"),
        ("saleCreditNoteList", "GET /saleCreditNoteList"),
        ("ref/tax", "GET /ref/tax"),
        ("ref/productavailability", "GET /ref/productavailability"),
        ("product", "POST /product (response)"),
        ("webhooks", "GET /webhooks"),
    ):
        assert client_a.get(endpoint).json() == lists_payload[section], endpoint
    payments = client_a.get("sale/payment", params={"SaleID": "916ab4c0-6ccb-4c93-873d-0603859050e4"})
    assert payments.json() == lists_payload["GET /sale/payment?SaleID="]


def test_loading_the_same_records_twice_does_not_duplicate_them(client_a, account_a, lists_payload):
    load_records(account=account_a.account_id, data=lists_payload)
    load_records(account=account_a.account_id, data=lists_payload["GET /customer"])
    assert client_a.get("customer").json()["Total"] == 2


def test_single_records_and_plain_lists_load_too(client_a, account_a, lists_payload):
    customers = lists_payload["GET /customer"]["CustomerList"]
    assert load_records(account=account_a.account_id, data=customers[0]) == {"customers": 1}
    assert load_records(account=account_a.account_id, data=customers) == {"customers": 2}
    body = client_a.get("customer", params={"Name": "Customer Test"}).json()
    assert body["CustomerList"] == [customers[1]] and body["Total"] == 1


def test_a_full_sale_loads_and_comes_back_identical_with_its_list_entry(client_a, client_b, account_a, account_b):
    generate(account=account_b.account_id, seed=3, customers=3, orders=4)
    sale_id = client_b.get("saleList").json()["SaleList"][0]["SaleID"]
    sale = client_b.get("sale", params={"ID": sale_id}).json()
    assert load_records(account=account_a.account_id, data=sale) == {"sales": 1}
    assert client_a.get("sale", params={"ID": sale_id}).json() == sale
    entry = client_a.get("saleList").json()["SaleList"][0]
    assert entry["SaleID"] == sale_id and entry["OrderNumber"] == sale["Order"]["SaleOrderNumber"]


def test_unrecognised_data_is_refused_by_the_loader(account_a):
    try:
        load_records(account=account_a.account_id, data={"hello": "world"})
    except ValueError as exc:
        assert "not a Cin7" in str(exc) or "no Cin7" in str(exc)
    else:
        raise AssertionError("the loader accepted data that is not Cin7's")


def test_one_account_never_sees_anothers_records(client_a, client_b, account_a, lists_payload):
    load_records(account=account_a.account_id, data=lists_payload)
    assert client_b.get("customer").json() == {"CustomerList": [], "Page": 1, "Total": 0}
    assert client_b.get("saleList").json()["SaleList"] == []
    missing = client_b.get("sale/payment", params={"SaleID": "916ab4c0-6ccb-4c93-873d-0603859050e4"})
    assert missing.status_code == 400
    assert client_b.get("webhooks").json() == {"Webhooks": []}


def test_sale_list_pages_with_page_limit_and_total(client_a, account_a):
    generate(account=account_a.account_id, seed=1, customers=5, orders=25)
    first = client_a.get("saleList", params={"Page": 1, "Limit": 10}).json()
    third = client_a.get("saleList", params={"page": 3, "limit": 10}).json()
    assert (first["Total"], first["Page"], len(first["SaleList"])) == (25, 1, 10)
    assert (third["Page"], len(third["SaleList"])) == (3, 5)
    everything = client_a.get("saleList").json()["SaleList"]
    assert len(everything) == 25  # default limit 100
    ids = [s["SaleID"] for s in everything]
    assert len(set(ids)) == 25 and [s["SaleID"] for s in first["SaleList"]] == ids[:10]


def test_limit_above_1000_is_a_validation_error_in_a_list(client_a):
    response = client_a.get("saleList", params={"Limit": 1001})
    assert response.status_code == 400
    body = response.json()
    assert isinstance(body, list) and body[0]["ErrorCode"] == 400 and "Limit" in body[0]["Exception"]


def test_sale_list_filters_by_status_search_and_updated_since(client_a, account_a):
    generate(account=account_a.account_id, seed=2, customers=5, orders=40)
    sales = client_a.get("saleList").json()["SaleList"]
    voided = client_a.get("saleList", params={"Status": "VOIDED"}).json()["SaleList"]
    assert voided and all(s["Status"] == "VOIDED" for s in voided)
    assert len(voided) == sum(1 for s in sales if s["Status"] == "VOIDED")
    target = sales[7]
    found = client_a.get("saleList", params={"Search": target["OrderNumber"]}).json()["SaleList"]
    assert [s["SaleID"] for s in found] == [target["SaleID"]]
    cutoff = sorted(s["Updated"] for s in sales)[30]
    recent = client_a.get("saleList", params={"UpdatedSince": cutoff}).json()["SaleList"]
    assert {s["SaleID"] for s in recent} == {s["SaleID"] for s in sales if s["Updated"] >= cutoff}


def test_paths_are_case_insensitive_and_unknown_ones_are_404(account_a):
    with sandbox_client(base_url="http://testserver/sandbox/cin7/", headers=auth(account_a)) as client:
        assert client.get("externalapi/v2/SALELIST").status_code == 200
        assert client.get("ExternalApi/v2/Customer").json()["Total"] == 0
        unknown = client.get("ExternalApi/v2/Products")
        assert unknown.status_code == 404 and unknown.json()["ErrorCode"] == 404
        assert client.delete("ExternalApi/v2/saleList").status_code == 405


def test_sale_parts_and_payments_are_served_from_the_sale(client_a, account_a):
    generate(account=account_a.account_id, seed=4, customers=5, orders=30)
    credited = client_a.get("saleList", params={"Status": "CREDITED"}).json()["SaleList"][0]
    sale = client_a.get("sale", params={"ID": credited["SaleID"]}).json()
    params = {"SaleID": credited["SaleID"]}
    assert client_a.get("sale/invoice", params=params).json() == {"SaleID": sale["ID"], "Invoices": sale["Invoices"]}
    notes = client_a.get("sale/creditnote", params=params).json()
    assert notes["CreditNotes"] == sale["CreditNotes"]
    assert client_a.get("sale/order", params=params).json()["Lines"] == sale["Order"]["Lines"]
    payments = client_a.get("sale/payment", params=params).json()
    assert {p["Type"] for p in payments} <= {"Payment", "Refund"}
    paid = sum(p["Amount"] for p in payments if p["Type"] == "Payment")
    assert round(paid, 2) == round(sum(p["Amount"] for p in sale["Invoices"][0]["Payments"]), 2)
    credit_list = client_a.get("saleCreditNoteList").json()["SaleList"]
    assert credited["SaleID"] in {s["SaleID"] for s in credit_list}


def test_unknown_sale_is_a_400_with_an_error_list(client_a):
    response = client_a.get("sale", params={"ID": "00000000-0000-0000-0000-000000000000"})
    assert response.status_code == 400 and response.json()[0]["ErrorCode"] == 400


def test_customer_create_requires_cin7s_fields(client_a):
    refused = client_a.post("customer", json={"Name": "Only a name"})
    assert refused.status_code == 400
    assert "Currency is required" in refused.json()[0]["Exception"]
    created = client_a.post(
        "customer",
        json={
            "Name": "New Co",
            "Currency": "AUD",
            "PaymentTerm": "30 days",
            "AccountReceivable": "610",
            "RevenueAccount": "200",
            "TaxRule": "GST on Income",
        },  # fmt: skip
    )
    assert created.status_code == 200
    new_id = created.json()["CustomerList"][0]["ID"]
    assert client_a.get("customer", params={"ID": new_id}).json()["CustomerList"][0]["Name"] == "New Co"


def test_account_command_prints_one_json_object_and_is_idempotent(db):
    first, second = io.StringIO(), io.StringIO()
    call_command("sandbox_cin7_account", "--name", "Acme", "--json", stdout=first)
    call_command("sandbox_cin7_account", "--name", "Acme", "--json", stdout=second)
    one, two = json.loads(first.getvalue()), json.loads(second.getvalue())
    assert one == two
    assert one["base_url"].endswith("/sandbox/cin7/ExternalApi/v2/")
    assert set(one) >= {"base_url", "account_id", "application_key"}
