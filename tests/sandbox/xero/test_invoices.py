"""Invoices and credit notes: per-line tax rounding, totals, numbering, status rules, filters, history."""

from decimal import Decimal

import pytest

from sandbox.xero.models import Account, TaxComponent
from tests.sandbox.xero.conftest import invoice_body


def _line(amount, quantity=1, **extra) -> dict:
    # JSON numbers on the wire (the spec types them as numbers); the simulator reads them as exact decimals.
    return {"Description": "x", "Quantity": quantity, "UnitAmount": float(amount), "AccountCode": "200", **extra}


def test_tax_is_rounded_per_line_then_summed(make_invoice):
    # Three lines of 1.05 at AU GST 10 %: each line's tax 0.105 rounds to 0.11 → 0.33 (tax on the total: 0.32).
    invoice = make_invoice(_line("1.05"), _line("1.05"), _line("1.05"))
    assert [line["TaxAmount"] for line in invoice["LineItems"]] == [0.11, 0.11, 0.11]
    assert invoice["SubTotal"] == 3.15 and invoice["TotalTax"] == 0.33 and invoice["Total"] == 3.48
    assert invoice["AmountDue"] == 3.48 and invoice["AmountPaid"] == 0


def test_amounts_are_written_with_two_decimals_on_the_wire(org_a, make_invoice):
    invoice = make_invoice(_line("10.5"))
    raw = org_a.get(f"Invoices/{invoice['InvoiceID']}").text
    assert '"Total":11.55' in raw and '"SubTotal":10.50' in raw


def test_inclusive_lines_carry_their_tax_inside(make_invoice):
    invoice = make_invoice(_line("11.00"), LineAmountTypes="Inclusive")
    assert invoice["LineItems"][0]["TaxAmount"] == 1.0
    assert invoice["SubTotal"] == 10.0 and invoice["TotalTax"] == 1.0 and invoice["Total"] == 11.0


def test_no_tax_lines(make_invoice):
    invoice = make_invoice(_line("10.00"), LineAmountTypes="NoTax")
    assert invoice["TotalTax"] == 0 and invoice["Total"] == 10.0


def test_discount_rate_reduces_the_line_amount_then_rounds(make_invoice):
    invoice = make_invoice(_line("9.99", quantity=3, DiscountRate=15))
    # 3 × 9.99 × 0.85 = 25.4745 → 25.47; tax 2.547 → 2.55
    assert invoice["LineItems"][0]["LineAmount"] == 25.47
    assert invoice["LineItems"][0]["TaxAmount"] == 2.55
    assert invoice["Total"] == 28.02


def test_unit_prices_keep_four_decimals_only_with_unitdp_4(org_a, contact_id):
    body = {"Invoices": [invoice_body(contact_id, _line("1.23456", quantity=10))]}
    with_4dp = org_a.put("Invoices", body, params={"unitdp": 4}).json()["Invoices"][0]
    assert Decimal(str(with_4dp["LineItems"][0]["UnitAmount"])) == Decimal("1.2346")
    assert with_4dp["LineItems"][0]["LineAmount"] == 12.35
    default = org_a.put("Invoices", {"Invoices": [invoice_body(contact_id, _line("1.23456", quantity=10))]})
    line = default.json()["Invoices"][0]["LineItems"][0]
    assert line["UnitAmount"] == 1.23 and line["LineAmount"] == 12.3


def test_us_compound_county_tax_applies_on_state_tax_too(http, db):
    from sandbox.xero.services.orgs import organisation_create
    from tests.sandbox.xero.conftest import Org

    us = Org(organisation_create(name="Gamma Inc", country="US"), http)
    contact_id = us.put("Contacts", {"Contacts": [{"Name": "Buyer"}]}).json()["Contacts"][0]["ContactID"]
    rates = {r["TaxType"]: r for r in us.get("TaxRates").json()["TaxRates"]}
    travis = rates["TAX003"]
    assert [c["IsCompound"] for c in travis["TaxComponents"]] == [False, True]
    # 6.25 % state + 2 % county on (amount + state tax) = 8.375 %
    assert travis["EffectiveRate"] == 8.375
    invoice = us.put("Invoices", {"Invoices": [invoice_body(contact_id, _line("100.00", TaxType="TAX003"))]})
    assert invoice.json()["Invoices"][0]["TotalTax"] == 8.38
    assert len(rates["TAX002"]["TaxComponents"]) == 3


def test_accrec_invoice_number_is_unique_but_accpay_numbers_may_repeat(org_a, contact_id):
    first = org_a.put("Invoices", {"Invoices": [invoice_body(contact_id, InvoiceNumber="SO-1")]})
    assert first.status_code == 200
    again = org_a.put("Invoices", {"Invoices": [invoice_body(contact_id, InvoiceNumber="SO-1")]})
    assert again.status_code == 400
    assert again.json()["Elements"][0]["ValidationErrors"][0]["Message"] == "Invoice # must be unique."
    bill = {**invoice_body(contact_id, InvoiceNumber="B-1"), "Type": "ACCPAY"}
    assert org_a.put("Invoices", {"Invoices": [bill]}).status_code == 200
    assert org_a.put("Invoices", {"Invoices": [bill]}).status_code == 200


def test_accrec_numbers_are_generated_when_missing(make_invoice):
    assert make_invoice()["InvoiceNumber"] == "INV-0001"
    assert make_invoice()["InvoiceNumber"] == "INV-0002"


def test_unknown_account_and_tax_type_are_refused(org_a, contact_id):
    bad_account = org_a.put("Invoices", {"Invoices": [invoice_body(contact_id, _line("5", AccountCode="999"))]})
    assert "Account code '999'" in bad_account.json()["Elements"][0]["ValidationErrors"][0]["Message"]
    archived = org_a.put("Invoices", {"Invoices": [invoice_body(contact_id, _line("5", AccountCode="299"))]})
    assert archived.status_code == 400
    bad_tax = org_a.put("Invoices", {"Invoices": [invoice_body(contact_id, _line("5", TaxType="OUTPUT2"))]})
    assert "TaxType code 'OUTPUT2'" in bad_tax.json()["Elements"][0]["ValidationErrors"][0]["Message"]


def test_tracking_on_lines_must_name_active_options(org_a, make_invoice, contact_id):
    invoice = make_invoice(_line("10", Tracking=[{"Name": "Region", "Option": "North"}]))
    assert invoice["LineItems"][0]["Tracking"][0]["Option"] == "North"
    bad = org_a.put(
        "Invoices",
        {"Invoices": [invoice_body(contact_id, _line("10", Tracking=[{"Name": "Region", "Option": "Mars"}]))]},
    )
    assert bad.status_code == 400


def test_tracking_changed_between_batches_is_seen_by_the_next_batch(org_a, org_b, make_invoice, contact_id):
    # The organisation's tracking is kept between requests while its rows are unchanged: any change shows at once.
    def tracked(org, option, contact):
        line = _line("10", Tracking=[{"Name": "Region", "Option": option}])
        return org.put("Invoices", {"Invoices": [invoice_body(contact, line)]}, params={"summarizeErrors": "false"})

    assert make_invoice(_line("10", Tracking=[{"Name": "Region", "Option": "North"}]))["Status"] == "AUTHORISED"
    region = next(t for t in org_a.get("TrackingCategories").json()["TrackingCategories"] if t["Name"] == "Region")
    added = org_a.put(f"TrackingCategories/{region['TrackingCategoryID']}/Options", {"Options": [{"Name": "Mars"}]})
    assert added.status_code == 200, added.text
    mars = tracked(org_a, "Mars", contact_id).json()["Invoices"][0]
    assert mars["StatusAttributeString"] == "OK" and mars["LineItems"][0]["Tracking"][0]["Option"] == "Mars"
    other_contact = org_b.put("Contacts", {"Contacts": [{"Name": "Acme Shop"}]}).json()["Contacts"][0]["ContactID"]
    assert tracked(org_b, "Mars", other_contact).json()["Invoices"][0]["StatusAttributeString"] == "ERROR"
    assert tracked(org_b, "North", other_contact).json()["Invoices"][0]["StatusAttributeString"] == "OK"
    archived = org_a.post(f"TrackingCategories/{region['TrackingCategoryID']}", {"Status": "ARCHIVED"})
    assert archived.status_code == 200, archived.text
    refused = tracked(org_a, "North", contact_id).json()["Invoices"][0]
    assert refused["ValidationErrors"] == [{"Message": "Tracking category 'Region' is not valid."}]


def test_status_transitions(org_a, make_invoice):
    draft = make_invoice(status="DRAFT")
    path = f"Invoices/{draft['InvoiceID']}"
    assert org_a.post(path, {"Invoices": [{"Status": "SUBMITTED"}]}).json()["Invoices"][0]["Status"] == "SUBMITTED"
    assert org_a.post(path, {"Invoices": [{"Status": "AUTHORISED"}]}).json()["Invoices"][0]["Status"] == "AUTHORISED"
    refused_delete = org_a.post(path, {"Invoices": [{"Status": "DELETED"}]})
    assert refused_delete.status_code == 400
    assert org_a.post(path, {"Invoices": [{"Status": "VOIDED"}]}).json()["Invoices"][0]["Status"] == "VOIDED"
    edit_voided = org_a.post(path, {"Invoices": [{"Reference": "late"}]})
    assert edit_voided.json()["Elements"][0]["ValidationErrors"][0]["Message"] == (
        "Invoice not of valid status for modification"
    )


def test_drafts_can_be_deleted_but_not_voided(org_a, make_invoice):
    draft = make_invoice(status="DRAFT")
    path = f"Invoices/{draft['InvoiceID']}"
    assert org_a.post(path, {"Invoices": [{"Status": "VOIDED"}]}).status_code == 400
    assert org_a.post(path, {"Invoices": [{"Status": "DELETED"}]}).json()["Invoices"][0]["Status"] == "DELETED"


def test_status_paid_cannot_be_set_by_a_caller(org_a, make_invoice):
    invoice = make_invoice()
    assert org_a.post(f"Invoices/{invoice['InvoiceID']}", {"Invoices": [{"Status": "PAID"}]}).status_code == 400


def test_invoice_filters_and_explicit_parameters(org_a, org_b, make_invoice, contact_id):
    one = make_invoice(InvoiceNumber="A-1", Reference="ORDER-1")
    make_invoice(InvoiceNumber="A-2", status="DRAFT")
    bill = org_a.put("Invoices", {"Invoices": [{**invoice_body(contact_id), "Type": "ACCPAY"}]}).json()["Invoices"][0]

    def numbers(**params):
        return sorted(i["InvoiceNumber"] for i in org_a.get("Invoices", params=params).json()["Invoices"])

    assert numbers(where='Status=="AUTHORISED" AND Type=="ACCREC"') == ["A-1"]
    assert numbers(where='Reference=="ORDER-1"') == ["A-1"]
    assert numbers(where='InvoiceNumber=="A-2"') == ["A-2"]
    assert numbers(where=f'Contact.ContactID==guid("{contact_id}") AND Type=="ACCPAY"') == [bill["InvoiceNumber"]]
    assert numbers(InvoiceNumbers="A-1,A-2") == ["A-1", "A-2"]
    assert numbers(Statuses="DRAFT") == ["A-2"]
    assert numbers(IDs=one["InvoiceID"]) == ["A-1"]
    assert numbers(ContactIDs=contact_id, Statuses="AUTHORISED", where='Type=="ACCREC"') == ["A-1"]
    assert org_b.get("Invoices").json()["Invoices"] == []
    assert org_b.get(f"Invoices/{one['InvoiceID']}").status_code == 404


def test_line_items_come_only_with_paged_reads(org_a, make_invoice):
    make_invoice()
    assert "LineItems" not in org_a.get("Invoices").json()["Invoices"][0]
    paged = org_a.get("Invoices", params={"page": 1}).json()
    assert len(paged["Invoices"][0]["LineItems"]) == 1 and paged["pagination"]["itemCount"] == 1


def test_dates_use_xero_formats(make_invoice):
    invoice = make_invoice()
    assert invoice["Date"] == "/Date(1736899200000+0000)/"
    assert invoice["DateString"] == "2025-01-15T00:00:00"
    assert invoice["DueDateString"] == "2025-02-15T00:00:00"
    assert invoice["UpdatedDateUTC"].startswith("/Date(")


def test_history_records_changes_and_notes(org_a, make_invoice):
    invoice = make_invoice(status="DRAFT")
    path = f"Invoices/{invoice['InvoiceID']}/History"
    org_a.post(f"Invoices/{invoice['InvoiceID']}", {"Invoices": [{"Status": "AUTHORISED"}]})
    added = org_a.put(path, {"HistoryRecords": [{"Details": "Synced from shop order 42"}]})
    assert added.status_code == 200
    changes = [h["Changes"] for h in org_a.get(path).json()["HistoryRecords"]]
    assert changes == ["Note", "Approved", "Created"]
    too_long = org_a.put(path, {"HistoryRecords": [{"Details": "x" * 251}]})
    assert too_long.status_code == 400


def test_unknown_contact_name_on_an_invoice_creates_the_contact(org_a):
    body = invoice_body("", status="DRAFT")
    body["Contact"] = {"Name": "Walk-in Customer"}
    assert org_a.put("Invoices", {"Invoices": [body]}).status_code == 200
    contact = org_a.get("Contacts", params={"where": 'Name=="Walk-in Customer"'}).json()["Contacts"][0]
    assert contact["IsCustomer"] is True


@pytest.mark.parametrize("missing", ["Type", "Contact"])
def test_required_fields(org_a, contact_id, missing):
    body = invoice_body(contact_id)
    body.pop(missing)
    assert org_a.put("Invoices", {"Invoices": [body]}).status_code == 400


def test_credit_note_totals_and_numbering(org_a, contact_id):
    body = {"Type": "ACCRECCREDIT", "Contact": {"ContactID": contact_id}, "Status": "AUTHORISED", "Date": "2025-01-20"}
    body["LineItems"] = [_line("1.05"), _line("1.05")]
    note = org_a.put("CreditNotes", {"CreditNotes": [body]}).json()["CreditNotes"][0]
    assert note["CreditNoteNumber"] == "CN-0001"
    assert note["TotalTax"] == 0.22 and note["Total"] == 2.32 and note["RemainingCredit"] == 2.32


def test_settings_changed_between_two_batches_apply_to_the_second(org_a, make_invoice, contact_id):
    # A process keeps an organisation's accounts and tax rates between requests: a change made since (here by
    # another writer, straight in the database) must apply to the very next batch.
    assert make_invoice(_line("100"))["TotalTax"] == 10.0
    TaxComponent.objects.filter(tax_rate__org__tenant_id=org_a.tenant_id, tax_rate__tax_type="OUTPUT").update(
        rate=Decimal("15")
    )
    assert make_invoice(_line("100"))["TotalTax"] == 15.0
    Account.objects.filter(org__tenant_id=org_a.tenant_id, code="200").update(status="ARCHIVED")
    refused = org_a.put("Invoices", {"Invoices": [invoice_body(contact_id, _line("100"))]})
    assert refused.status_code == 400
    assert "Account code '200'" in refused.json()["Elements"][0]["ValidationErrors"][0]["Message"]
