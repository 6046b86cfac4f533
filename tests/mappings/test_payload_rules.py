"""Payload rules on hand-made records: problems instead of guesses, rounding to the cent, ids that stay put."""

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from connections.canonical import Contact, LineKind, Order, OrderLine, Payment, Product, Refund, RefundLine, TaxKey
from connections.models import XeroReferenceData
from mappings.health import mapping_gaps
from mappings.models import ContactPolicy, PaymentAccountMapping, PostingPolicy, TaxMapping, TrackingMapping
from mappings.payloads import (
    contact_payload,
    credit_note_payload,
    invoice_payload,
    item_payload,
    payload_json,
    payment_payload,
)
from mappings.services import source_values_observe
from tenants.scoping import tenant_scope
from tests.factories import ConnectionFactory
from tests.mappings.conftest import connect_xero, post_to_xero

pytestmark = pytest.mark.django_db

WHEN = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)
GST = TaxKey(code="GST", percent=Decimal("10"), label="GST")
D = Decimal


def line(line_id, unit, *, quantity="1", tax="0.00", total=None, key=GST, kind=LineKind.PRODUCT, sku="", discount="0"):
    quantity, unit = D(quantity), D(unit)
    total = D(total) if total is not None else (quantity * unit - D(discount)).quantize(D("0.01"))
    return OrderLine(
        line_id,
        kind,
        f"Item {line_id}",
        quantity,
        unit,
        discount=D(discount),
        tax=D(tax),
        total=total,
        tax_key=key,
        sku=sku,
    )


def order(lines, *, tax_total, grand_total, inclusive=False, currency="AUD", number="100001", **extra):
    return Order(
        source_id=number,
        number=number,
        currency=currency,
        tax_inclusive=inclusive,
        lines=tuple(lines),
        subtotal=sum((x.total for x in lines), D("0.00")),
        tax_total=D(tax_total),
        discount_total=D("0.00"),
        shipping_total=D("0.00"),
        grand_total=D(grand_total),
        status="processing",
        created_at=WHEN,
        updated_at=WHEN,
        contact=Contact(source_id="42", email="jane@example.com", first_name="Jane", last_name="Doe"),
        **extra,
    )


@pytest.fixture
def setup(world):
    """A1 connected to an AU organisation with GST mapped, rounding to 860; B1 with a conflicting mapping."""
    with tenant_scope(world.tenant_b1):
        connect_xero(world.tenant_b1, name="Rules B", country="AU")
        other = ConnectionFactory(tenant=world.tenant_b1, provider="magento")
        TaxMapping.objects.create(
            tenant=world.tenant_b1, source_connection=other, tax_code="GST", xero_tax_type="INPUT"
        )
    with tenant_scope(world.tenant_a1):
        xero = connect_xero(world.tenant_a1, name="Rules AU", country="AU")
        source = ConnectionFactory(tenant=world.tenant_a1, provider="magento", display_name="demo")
        TaxMapping.objects.create(
            tenant=world.tenant_a1, source_connection=source, tax_code="GST", xero_tax_type="OUTPUT"
        )
        PostingPolicy.objects.create(
            tenant=world.tenant_a1,
            source_connection=source,
            sales_account_code="200",
            shipping_account_code="210",
            rounding_account_code="860",
            invoice_number_prefix="WEB-",
            due_days=14,
        )
        contact = post_to_xero(xero, "Contacts", {"Name": "Rules Customer"}, unitdp=False)["ContactID"]
        with tenant_scope(world.tenant_a1):
            yield world.tenant_a1, source, xero, contact


def build(setup, record):
    _, source, xero, contact = setup
    return invoice_payload(source_connection=source, xero_connection=xero, order=record, contact_xero_id=contact)


def test_tax_computed_on_the_total_is_balanced_by_a_rounding_line(setup):
    # The source taxed the total (0.99 × 10% = 0.10); Xero taxes each line (3 × 0.03 = 0.09).
    record = order([line(str(i), "0.33", tax="0.03") for i in range(3)], tax_total="0.10", grand_total="1.09")
    result = build(setup, record)
    assert result.ok, result.problems
    rounding = result.payload["LineItems"][-1]
    assert (rounding["AccountCode"], rounding["UnitAmount"], rounding["TaxType"]) == ("860", 0.01, "BASEXCLUDED")
    explained = next(x for x in result.explanation if x["line_id"] == "rounding")
    assert explained["account_rule"] == "posting policy: rounding account"
    answer = post_to_xero(setup[2], "Invoices", result.payload)
    assert answer["Total"] == D("1.09") and answer["TotalTax"] == D("0.09")
    assert answer["InvoiceNumber"] == "WEB-100001" and answer["Reference"] == "100001"
    # The order was placed at 23:30 UTC: 2 March in Sydney, the organisation's day.
    assert result.payload["Date"] == "2026-03-02" and result.payload["DueDate"] == "2026-03-16"


def test_inconsistent_orders_and_unmapped_keys_are_problems_never_defaults(setup):
    broken = order([line("1", "10.00", tax="1.00")], tax_total="1.00", grand_total="12.00")
    result = build(setup, broken)
    assert result.payload is None
    assert result.problems[0].code == "order_totals_inconsistent"
    assert "the order's own numbers don't add up" in result.problems[0].cause.lower()

    unknown = TaxKey(code="rate:15", percent=D("15"))
    result = build(setup, order([line("1", "10.00", tax="1.50", key=unknown)], tax_total="1.50", grand_total="11.50"))
    assert result.payload is None
    problem = result.problems[0]
    assert problem.code == "tax_unmapped"
    assert "Tax key “rate:15”" in problem.cause and "Magento “demo”" in problem.cause
    assert problem.fix_url.startswith("/admin/mappings/taxmapping/add/?") and "tax_code=rate%3A15" in problem.fix_url


def test_unit_prices_keep_four_places_and_line_amounts_agree_with_quantity_times_price(setup):
    # 3 × 3.3333 = 9.9999 → Xero's line amount 10.00 agrees with the source's row total.
    record = order(
        [line("1", "3.3333", quantity="3", tax="1.00", total="10.00")], tax_total="1.00", grand_total="11.00"
    )
    result = build(setup, record)
    assert result.ok
    assert '"UnitAmount":3.3333' in payload_json(result.payload)
    answer = post_to_xero(setup[2], "Invoices", result.payload)
    assert answer["LineItems"][0]["LineAmount"] == D("10.00") and answer["Total"] == D("11.00")

    # A discount on the line goes as DiscountAmount; Xero's amount is quantity × price − discount.
    discounted = order(
        [line("1", "25.00", quantity="2", discount="5.00", tax="4.50")],
        tax_total="4.50",
        grand_total="49.50",
        number="100002",
    )
    result = build(setup, discounted)
    assert result.payload["LineItems"][0]["DiscountAmount"] == 5
    assert post_to_xero(setup[2], "Invoices", result.payload)["Total"] == D("49.50")


def test_xero_changes_after_mapping_are_caught_before_sending(setup, world):
    tenant, source, xero, _ = setup
    TrackingMapping.objects.create(
        tenant=tenant, source_connection=source, source_attribute="store", xero_category="Region", xero_option="North"
    )
    record = order([line("1", "10.00", tax="1.00")], tax_total="1.00", grand_total="11.00", store="North")
    assert build(setup, record).ok
    rows = {row.kind: row for row in XeroReferenceData.objects.filter(connection=xero)}
    rows["accounts"].data = [{**a, "Status": "ARCHIVED"} if a["Code"] == "200" else a for a in rows["accounts"].data]
    rows["accounts"].save()
    categories = rows["tracking_categories"].data
    for category in categories:
        category["Options"] = [o for o in category["Options"] if o["Name"] != "North"]
    rows["tracking_categories"].data = categories
    rows["tracking_categories"].save()
    result = build(setup, record)
    assert result.payload is None
    codes = {p.code for p in result.problems}
    assert codes == {"account_invalid", "tracking_invalid"}
    assert any("200 Sales (REVENUE) is archived in Xero" in p.cause for p in result.problems)
    source_values_observe(source_connection=source, order=record)
    gaps = mapping_gaps(tenant=tenant)
    assert any("“North” of “Region” has been removed" in g.cause for g in gaps)


def test_foreign_currency_carries_the_source_rate(setup):
    record = order(
        [line("1", "10.00", tax="1.00")],
        tax_total="1.00",
        grand_total="11.00",
        currency="USD",
        base_currency="AUD",
        currency_rate=D("0.6543"),
    )
    result = build(setup, record)
    assert result.payload["CurrencyCode"] == "USD" and result.payload["CurrencyRate"] == 0.6543
    answer = post_to_xero(setup[2], "Invoices", result.payload)
    assert answer["CurrencyCode"] == "USD" and answer["CurrencyRate"] == D("0.6543") and answer["Total"] == D("11.00")
    nzd = order([line("1", "10.00", tax="1.00")], tax_total="1.00", grand_total="11.00", currency="NZD", number="9")
    assert build(setup, nzd).problems[0].code == "currency_not_enabled"


def test_contacts_carry_a_stable_external_id_and_a_deterministic_name_on_collision(setup):
    tenant, source, xero, _ = setup
    long_guest = Contact(source_id="guest:" + "a" * 60 + "@example.com", email="jane@example.com", first_name="Jane")
    first = contact_payload(source_connection=source, xero_connection=xero, contact=long_guest).payload
    again = contact_payload(source_connection=source, xero_connection=xero, contact=long_guest).payload
    assert first["ContactNumber"] == again["ContactNumber"] and len(first["ContactNumber"]) <= 50
    assert first["Name"] == "Jane"
    taken = contact_payload(source_connection=source, xero_connection=xero, contact=long_guest, name_taken=True)
    assert taken.payload["Name"] == "Jane (jane@example.com)"
    assert post_to_xero(xero, "Contacts", taken.payload, unitdp=False)["ContactNumber"] == first["ContactNumber"]
    ContactPolicy.objects.create(tenant=tenant, source_connection=source, name_collision="hold")
    held = contact_payload(source_connection=source, xero_connection=xero, contact=long_guest, name_taken=True)
    assert held.payload is None and held.problems[0].code == "contact_name_taken"


def test_payments_go_only_to_accounts_that_take_payments(setup):
    tenant, source, xero, contact = setup
    record = order([line("1", "10.00", tax="1.00")], tax_total="1.00", grand_total="11.00", number="7001")
    invoice = post_to_xero(xero, "Invoices", build(setup, record).payload)
    payment = Payment("p1", "7001", D("11.00"), "AUD", "braintree", WHEN)
    unmapped = payment_payload(source_connection=source, xero_connection=xero, payment=payment, invoice_xero_id="x")
    assert unmapped.problems[0].code == "payment_account_unmapped"
    mapping = PaymentAccountMapping.objects.create(
        tenant=tenant, source_connection=source, payment_method="braintree", account_code="200"
    )
    refused = payment_payload(source_connection=source, xero_connection=xero, payment=payment, invoice_xero_id="x")
    assert (
        refused.problems[0].code == "payment_account_invalid" and "cannot receive payments" in refused.problems[0].cause
    )
    mapping.account_code = "615"
    mapping.save()
    result = payment_payload(
        source_connection=source, xero_connection=xero, payment=payment, invoice_xero_id=invoice["InvoiceID"]
    )
    assert result.payload["Account"] == {"Code": "615"}
    response = xero_put_payment(xero, result.payload)
    assert response["Amount"] == D("11.00")


def xero_put_payment(xero, payload):
    from tests.sandbox_world import xero_client

    answer = xero_client(xero).put("Payments", json_body={"Payments": [payload]})
    return json.loads(answer.content, parse_float=Decimal)["Payments"][0]


def test_credit_notes_total_the_refund_and_items_get_short_stable_codes(setup):
    tenant, source, xero, contact = setup
    record = order([line("1", "10.00", tax="1.00", sku="TEE")], tax_total="1.00", grand_total="11.00")
    refund = Refund(
        source_id="r1",
        order_source_id="100001",
        number="CM-1",
        currency="AUD",
        lines=(RefundLine("1", "Tee", D("1"), D("10.00"), tax=D("1.00"), sku="TEE"),),
        shipping=D("0.00"),
        adjustment=D("0.00"),
        fee=D("0.00"),
        total=D("11.00"),
        refunded_at=WHEN,
    )
    result = credit_note_payload(
        source_connection=source, xero_connection=xero, refund=refund, contact_xero_id=contact, order=record
    )
    assert result.ok, result.problems
    assert post_to_xero(xero, "CreditNotes", result.payload)["Total"] == D("11.00")

    sku = "HOODIE-ORGANIC-COTTON-EXTRA-LARGE-FOREST-GREEN"
    product = Product(source_id="p1", sku=sku, name="Hoodie", price=D("59.95"), tax_key=GST)
    item = item_payload(source_connection=source, xero_connection=xero, product=product)
    assert item.ok, item.problems
    code = item.payload["Code"]
    assert len(code) <= 30 and code.startswith("HOODIE-ORGANIC")
    assert item_payload(source_connection=source, xero_connection=xero, product=product).payload["Code"] == code
    assert item.payload["SalesDetails"] == {"UnitPrice": 59.95, "AccountCode": "200", "TaxType": "OUTPUT"}
    assert post_to_xero(xero, "Items", item.payload)["Code"] == code
