"""Batches: each element sees what the elements before it wrote, and a refused element leaves nothing behind."""

from sandbox.xero.models import Contact, HistoryRecord
from tests.sandbox.xero.conftest import invoice_body

NOT_SUMMARISED = {"summarizeErrors": "false"}


def _statuses(response, key: str) -> list[str]:
    assert response.status_code == 200, response.text
    return [e["StatusAttributeString"] for e in response.json()[key]]


def _line(amount) -> dict:
    return {"Description": "x", "Quantity": 1, "UnitAmount": amount, "AccountCode": "200"}


def test_contact_names_and_numbers_are_unique_within_one_batch(org_a, org_b):
    body = {
        "Contacts": [
            {"Name": "Same Name", "ContactNumber": "N-1"},
            {"Name": "same name"},
            {"Name": "Other", "ContactNumber": "N-1"},
        ]
    }
    response = org_a.put("Contacts", body, params=NOT_SUMMARISED)
    assert _statuses(response, "Contacts") == ["OK", "ERROR", "ERROR"]
    assert "contact name" in response.json()["Contacts"][1]["ValidationErrors"][0]["Message"]
    assert "contact number" in response.json()["Contacts"][2]["ValidationErrors"][0]["Message"]
    assert _statuses(org_b.put("Contacts", body, params=NOT_SUMMARISED), "Contacts") == ["OK", "ERROR", "ERROR"]


def test_a_contact_renamed_earlier_in_the_batch_frees_its_name(org_a):
    first = org_a.put("Contacts", {"Contacts": [{"Name": "Old Name"}]}).json()["Contacts"][0]
    body = {"Contacts": [{"ContactID": first["ContactID"], "Name": "New Name"}, {"Name": "Old Name"}]}
    assert _statuses(org_a.post("Contacts", body, params=NOT_SUMMARISED), "Contacts") == ["OK", "OK"]


def test_accrec_numbers_are_unique_within_one_batch(org_a, contact_id):
    body = {"Invoices": [invoice_body(contact_id, InvoiceNumber="B-1"), invoice_body(contact_id, InvoiceNumber="B-1")]}
    response = org_a.put("Invoices", body, params=NOT_SUMMARISED)
    assert _statuses(response, "Invoices") == ["OK", "ERROR"]
    assert response.json()["Invoices"][1]["ValidationErrors"][0]["Message"] == "Invoice # must be unique."


def test_a_post_naming_a_number_twice_updates_and_answers_each_step(org_a, contact_id):
    body = {
        "Invoices": [
            invoice_body(contact_id, InvoiceNumber="B-2", Reference="first", status="DRAFT"),
            {"InvoiceNumber": "B-2", "Reference": "second"},
        ]
    }
    answered = org_a.post("Invoices", body, params=NOT_SUMMARISED).json()["Invoices"]
    assert [i["Reference"] for i in answered] == ["first", "second"]
    assert answered[0]["InvoiceID"] == answered[1]["InvoiceID"]
    stored = org_a.get("Invoices", params={"InvoiceNumbers": "B-2"}).json()["Invoices"]
    assert [i["Reference"] for i in stored] == ["second"]


def test_a_refused_invoice_leaves_no_contact_history_or_number_behind(org_a, org_b):
    good = invoice_body("", status="DRAFT")
    good["Contact"] = {"Name": "Walk-in Good"}
    bad = invoice_body("", _line(5) | {"AccountCode": "999"})
    bad["Contact"] = {"Name": "Walk-in Bad"}
    third = invoice_body("", status="DRAFT")
    third["Contact"] = {"Name": "walk-in good"}  # the contact the first element created
    response = org_a.put("Invoices", {"Invoices": [good, bad, third]}, params=NOT_SUMMARISED)
    assert _statuses(response, "Invoices") == ["OK", "ERROR", "OK"]
    invoices = response.json()["Invoices"]
    assert [invoices[0]["InvoiceNumber"], invoices[2]["InvoiceNumber"]] == ["INV-0001", "INV-0002"]
    assert invoices[0]["Contact"]["ContactID"] == invoices[2]["Contact"]["ContactID"]
    names = [c["Name"] for c in org_a.get("Contacts").json()["Contacts"]]
    assert names == ["Walk-in Good"]
    assert org_b.get("Contacts").json()["Contacts"] == []
    contact = Contact.objects.get(org__tenant_id=org_a.tenant_id)
    assert contact.is_customer is True
    assert HistoryRecord.objects.filter(object_id=contact.pk).count() == 1


def test_summarised_batch_refuses_with_400_and_keeps_the_valid_invoices(org_a, contact_id):
    body = {"Invoices": [invoice_body(contact_id, InvoiceNumber="S-1"), invoice_body(contact_id, InvoiceNumber="S-1")]}
    response = org_a.put("Invoices", body)
    assert response.status_code == 400
    assert [e["InvoiceNumber"] for e in response.json()["Elements"]] == ["S-1"]
    assert [i["InvoiceNumber"] for i in org_a.get("Invoices").json()["Invoices"]] == ["S-1"]


def test_payments_in_one_batch_see_each_other(org_a, make_invoice):
    invoice = make_invoice()  # 110.00
    pay = {"Invoice": {"InvoiceID": invoice["InvoiceID"]}, "Account": {"Code": "090"}, "Date": "2025-01-20"}
    body = {"Payments": [{**pay, "Amount": 60}, {**pay, "Amount": 60}, {**pay, "Amount": 50}]}
    response = org_a.put("Payments", body, params=NOT_SUMMARISED)
    assert _statuses(response, "Payments") == ["OK", "ERROR", "OK"]
    paid = org_a.get(f"Invoices/{invoice['InvoiceID']}").json()["Invoices"][0]
    assert paid["Status"] == "PAID" and paid["AmountPaid"] == 110 and len(paid["Payments"]) == 2
    history = org_a.get(f"Invoices/{invoice['InvoiceID']}/History").json()["HistoryRecords"]
    assert [h["Changes"] for h in history] == ["Paid", "Created"]


def test_item_codes_are_unique_within_one_batch_and_post_updates_by_code(org_a):
    body = {"Items": [{"Code": "SKU-9", "Name": "One"}, {"Code": "SKU-9", "Name": "Two"}]}
    assert _statuses(org_a.put("Items", body, params=NOT_SUMMARISED), "Items") == ["OK", "ERROR"]
    answered = org_a.post("Items", body, params=NOT_SUMMARISED).json()["Items"]
    assert [(i["Name"], i["StatusAttributeString"]) for i in answered] == [("One", "OK"), ("Two", "OK")]
    assert [i["Name"] for i in org_a.get("Items").json()["Items"]] == ["Two"]


def test_where_lookups_with_paging_match_every_spelling(org_a, org_b):
    org_a.put("Contacts", {"Contacts": [{"Name": f"Shop {i}", "ContactNumber": f"SHOP-{i}"} for i in range(5)]})
    org_b.put("Contacts", {"Contacts": [{"Name": "Shop 1", "ContactNumber": "SHOP-1"}]})
    where = 'ContactNumber=="shop-1" OR ContactNumber=="SHOP-3" OR Name=="nobody"'
    found = org_a.get("Contacts", params={"where": where, "page": 1, "pageSize": 1000}).json()
    assert [c["Name"] for c in found["Contacts"]] == ["Shop 1", "Shop 3"]
    assert found["pagination"]["itemCount"] == 2
    negated = org_a.get("Contacts", params={"where": 'NOT Name=="Shop 0"'}).json()["Contacts"]
    assert len(negated) == 4
    page = org_a.get("Contacts", params={"page": 2, "pageSize": 2}).json()
    assert [c["Name"] for c in page["Contacts"]] == ["Shop 2", "Shop 3"] and page["pagination"]["pageCount"] == 3


def test_a_batch_answers_each_record_exactly_as_a_later_read_returns_it(org_a, org_b, contact_id):
    # Values finer than their columns (JSON numbers, read exactly): the answer shows them as stored, rounded half
    # away from zero; a line id sent in capitals comes back as Xero spells GUIDs.
    draft = invoice_body(contact_id, status="DRAFT", CurrencyRate=1.23456750001)
    created = org_a.put("Invoices", {"Invoices": [draft]}, params=NOT_SUMMARISED).json()["Invoices"][0]
    line = {
        "LineItemID": created["LineItems"][0]["LineItemID"].upper(),
        "Description": "Widget",
        "Quantity": 3,
        "UnitAmount": 10,
        "DiscountRate": 12.344999,
        "AccountCode": "200",
    }
    change = {
        "InvoiceID": created["InvoiceID"],
        "LineItems": [line],
        "CurrencyRate": 0.1234565,
        "Status": "AUTHORISED",
    }
    answered = org_a.post("Invoices", {"Invoices": [change]}, params=NOT_SUMMARISED).json()["Invoices"][0]
    assert answered.pop("StatusAttributeString") == "OK"
    assert answered == org_a.get(f"Invoices/{created['InvoiceID']}").json()["Invoices"][0]

    payment = {"Invoice": {"InvoiceID": created["InvoiceID"]}, "Account": {"Code": "090"}, "Amount": 5.0}
    payment["CurrencyRate"] = 1.0000005
    paid = org_a.put("Payments", {"Payments": [payment]}, params=NOT_SUMMARISED).json()["Payments"][0]
    assert paid.pop("StatusAttributeString") == "OK"
    assert paid == org_a.get(f"Payments/{paid['PaymentID']}").json()["Payments"][0]
    assert org_b.get(f"Invoices/{created['InvoiceID']}").status_code == 404
