"""List pages are read as plain values (sandbox.xero.pages): every field must be what a single read answers."""

from tests.sandbox.xero.test_payments import _credit_note, _pay


def _without_envelope_noise(record: dict) -> dict:
    return {key: value for key, value in record.items() if key != "UpdatedDateUTC"}


def test_listed_invoices_credit_notes_and_payments_match_their_single_reads(org_a, org_b, make_invoice, contact_id):
    discounted = {"Description": "Gadget", "Quantity": 3, "UnitAmount": 20, "AccountCode": "200", "DiscountRate": 10}
    paid = make_invoice(Reference="order 1")
    credited = make_invoice(
        {"Description": "Widget", "Quantity": 2, "UnitAmount": 50, "AccountCode": "200"}, discounted
    )
    make_invoice(status="DRAFT")
    _pay(org_a, paid["InvoiceID"], 40, Reference="first")
    _pay(org_a, paid["InvoiceID"], 70, Reference="second")
    note = _credit_note(org_a, contact_id, 30)
    allocated = org_a.put(
        f"CreditNotes/{note['CreditNoteID']}/Allocations",
        {"Allocations": [{"Invoice": {"InvoiceID": credited["InvoiceID"]}, "Amount": 33, "Date": "2025-01-21"}]},
    )
    assert allocated.status_code == 200, allocated.text

    for collection, key in (("Invoices", "InvoiceID"), ("CreditNotes", "CreditNoteID"), ("Payments", "PaymentID")):
        listed = org_a.get(collection, params={"page": 1, "pageSize": 100}).json()[collection]
        assert listed, collection
        for record in listed:
            single = org_a.get(f"{collection}/{record[key]}").json()[collection][0]
            assert record == single, (collection, record, single)
        assert org_b.get(collection, params={"page": 1}).json()[collection] == []

    invoices = {i["InvoiceID"]: i for i in org_a.get("Invoices", params={"page": 1}).json()["Invoices"]}
    assert [p["Reference"] for p in invoices[paid["InvoiceID"]]["Payments"]] == ["first", "second"]
    assert invoices[paid["InvoiceID"]]["Status"] == "PAID"
    assert invoices[credited["InvoiceID"]]["CreditNotes"][0]["AppliedAmount"] == 33
    assert invoices[credited["InvoiceID"]]["IsDiscounted"] is True
