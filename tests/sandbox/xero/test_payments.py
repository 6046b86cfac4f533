"""Payments and credit note allocations: where money may go, and never more than is owed."""


def _pay(org, invoice_id, amount, code="090", **extra):
    body = {"Invoice": {"InvoiceID": invoice_id}, "Account": {"Code": code}, "Date": "2025-01-20", "Amount": amount}
    return org.put("Payments", {"Payments": [{**body, **extra}]})


def _message(response) -> str:
    return response.json()["Elements"][0]["ValidationErrors"][0]["Message"]


def test_partial_then_full_payment_marks_the_invoice_paid(org_a, make_invoice):
    invoice = make_invoice()  # 100 + 10 GST
    assert _pay(org_a, invoice["InvoiceID"], 40).status_code == 200
    partly = org_a.get(f"Invoices/{invoice['InvoiceID']}").json()["Invoices"][0]
    assert partly["Status"] == "AUTHORISED" and partly["AmountPaid"] == 40 and partly["AmountDue"] == 70
    assert _pay(org_a, invoice["InvoiceID"], 70).status_code == 200
    paid = org_a.get(f"Invoices/{invoice['InvoiceID']}").json()["Invoices"][0]
    assert paid["Status"] == "PAID" and paid["AmountDue"] == 0 and paid["FullyPaidOnDate"]
    assert len(paid["Payments"]) == 2


def test_payment_above_amount_due_is_refused(org_a, make_invoice):
    invoice = make_invoice()
    response = _pay(org_a, invoice["InvoiceID"], 110.01)
    assert response.status_code == 400
    assert _message(response) == "Payment amount exceeds the amount outstanding on this document"


def test_payments_only_to_bank_accounts_or_accounts_enabled_for_payments(org_a, make_invoice):
    invoice = make_invoice()
    refused = _pay(org_a, invoice["InvoiceID"], 10, code="200")
    assert refused.status_code == 400 and "BANK" in _message(refused)
    assert _pay(org_a, invoice["InvoiceID"], 10, code="615").status_code == 200


def test_payments_only_against_authorised_invoices(org_a, make_invoice):
    draft = make_invoice(status="DRAFT")
    assert _pay(org_a, draft["InvoiceID"], 10).status_code == 400


def test_a_paid_invoice_cannot_be_edited_or_voided(org_a, make_invoice):
    invoice = make_invoice()
    _pay(org_a, invoice["InvoiceID"], 110)
    path = f"Invoices/{invoice['InvoiceID']}"
    edit = org_a.post(path, {"Invoices": [{"LineItems": [{"Description": "y", "Quantity": 1, "UnitAmount": 5}]}]})
    assert _message(edit) == "Invoice not of valid status for modification"
    assert org_a.post(path, {"Invoices": [{"Status": "VOIDED"}]}).status_code == 400


def test_an_invoice_with_a_payment_cannot_be_voided_until_the_payment_is_deleted(org_a, make_invoice):
    invoice = make_invoice()
    payment = _pay(org_a, invoice["InvoiceID"], 10).json()["Payments"][0]
    path = f"Invoices/{invoice['InvoiceID']}"
    refused = org_a.post(path, {"Invoices": [{"Status": "VOIDED"}]})
    assert "cannot be voided" in _message(refused)
    deleted = org_a.post(f"Payments/{payment['PaymentID']}", {"Status": "DELETED"})
    assert deleted.status_code == 200 and deleted.json()["Payments"][0]["Status"] == "DELETED"
    assert org_a.get(path).json()["Invoices"][0]["AmountDue"] == 110
    assert org_a.post(path, {"Invoices": [{"Status": "VOIDED"}]}).status_code == 200


def test_deleting_the_last_payment_reopens_a_paid_invoice(org_a, make_invoice):
    invoice = make_invoice()
    payment = _pay(org_a, invoice["InvoiceID"], 110).json()["Payments"][0]
    org_a.post(f"Payments/{payment['PaymentID']}", {"Status": "DELETED"})
    assert org_a.get(f"Invoices/{invoice['InvoiceID']}").json()["Invoices"][0]["Status"] == "AUTHORISED"


def test_payments_summarize_errors_false(org_a, make_invoice):
    invoice = make_invoice()
    body = {
        "Payments": [
            {"Invoice": {"InvoiceID": invoice["InvoiceID"]}, "Account": {"Code": "090"}, "Amount": 10},
            {"Invoice": {"InvoiceID": invoice["InvoiceID"]}, "Account": {"Code": "090"}, "Amount": 1000},
        ]
    }
    response = org_a.put("Payments", body, params={"summarizeErrors": "false"})
    assert [p["StatusAttributeString"] for p in response.json()["Payments"]] == ["OK", "ERROR"]


def test_payments_are_listed_per_organisation(org_a, org_b, make_invoice):
    invoice = make_invoice()
    _pay(org_a, invoice["InvoiceID"], 5)
    assert len(org_a.get("Payments").json()["Payments"]) == 1
    assert org_b.get("Payments").json()["Payments"] == []
    assert _pay(org_b, invoice["InvoiceID"], 5).status_code == 400


def _credit_note(org, contact_id, amount, status="AUTHORISED"):
    body = {
        "Type": "ACCRECCREDIT",
        "Contact": {"ContactID": contact_id},
        "Status": status,
        "LineItems": [{"Description": "refund", "Quantity": 1, "UnitAmount": amount, "AccountCode": "200"}],
    }
    return org.put("CreditNotes", {"CreditNotes": [body]}).json()["CreditNotes"][0]


def test_credit_note_allocation_up_to_the_amount_due(org_a, make_invoice, contact_id):
    invoice = make_invoice()  # total 110
    note = _credit_note(org_a, contact_id, 200)  # total 220
    path = f"CreditNotes/{note['CreditNoteID']}/Allocations"
    allocation = {"Invoice": {"InvoiceID": invoice["InvoiceID"]}, "Date": "2025-01-21"}
    too_much = org_a.put(path, {"Allocations": [{**allocation, "Amount": 110.01}]})
    assert too_much.status_code == 400
    assert org_a.put(path, {"Allocations": [{**allocation, "Amount": 110}]}).status_code == 200
    paid = org_a.get(f"Invoices/{invoice['InvoiceID']}").json()["Invoices"][0]
    assert paid["Status"] == "PAID" and paid["AmountCredited"] == 110 and paid["AmountDue"] == 0
    remaining = org_a.get(f"CreditNotes/{note['CreditNoteID']}").json()["CreditNotes"][0]
    assert remaining["RemainingCredit"] == 110 and remaining["Status"] == "AUTHORISED"


def test_draft_credit_notes_cannot_be_allocated(org_a, make_invoice, contact_id):
    invoice = make_invoice()
    note = _credit_note(org_a, contact_id, 10, status="DRAFT")
    response = org_a.put(
        f"CreditNotes/{note['CreditNoteID']}/Allocations",
        {"Allocations": [{"Invoice": {"InvoiceID": invoice["InvoiceID"]}, "Amount": 5, "Date": "2025-01-21"}]},
    )
    assert response.status_code == 400
