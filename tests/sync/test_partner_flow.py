"""A partner system through the ingest API into Xero: contacts, products, orders (one in a foreign currency),
payments and refunds, read back from the Xero sandbox exact to the cent. Two tenants, two agencies' keys.
"""

from decimal import Decimal

import pytest

from connections.services import connection_create
from mappings.models import PostingPolicy
from sync.models import CrossReference, SyncJob
from sync.services.processing import inbound_events_process_pending
from tenants import services as tenant_services
from tenants.scoping import tenant_scope
from tests.sync.flow_helpers import TRANSPORT, drain_until_idle, held_causes, map_everything, xero_for, xero_read

pytestmark = pytest.mark.django_db

CONTACTS = [
    {"id": "C-1", "email": "ana@lima.example", "first_name": "Ana", "last_name": "Lima", "company": "Lima Trading",
     "phone": "+61 2 9000 1111", "tax_number": "51 824 753 556",
     "addresses": [{"lines": ["1 Harbour St", "Level 2"], "city": "Sydney", "region": "NSW", "postcode": "2000",
                    "country": "AU"}]},
    {"id": "C-2", "email": "bo@okafor.example", "first_name": "Bo", "last_name": "Okafor"},
]  # fmt: skip
PRODUCTS = [
    {"id": "P-1", "sku": "MUG-1", "name": "Stoneware mug", "price": "12.50", "cost": "4.1250", "tax_code": "GST",
     "tax_rate": "10", "is_tracked": True, "description": "Hand-thrown, 350 ml"},
    {"id": "P-2", "sku": "BOOK-1", "name": "Brewing guide", "price": "30.00", "tax_code": "FREE", "tax_rate": "0"},
]  # fmt: skip
ORDERS = [
    # Two tax rates (10 % and 0 %), a line discount, shipping: 22.50 + 30.00 + 10.00 + tax 3.25 = 65.75.
    {"id": "SO-1", "currency": "AUD", "created_at": "2025-03-01T10:00:00Z", "grand_total": "65.75",
     "contact": CONTACTS[0], "payment_method": "card",
     "lines": [
         {"line_id": "1", "sku": "MUG-1", "description": "Stoneware mug", "quantity": "2", "unit_price": "12.50",
          "discount": "2.50", "tax": "2.25", "tax_code": "GST", "tax_rate": "10"},
         {"line_id": "2", "sku": "BOOK-1", "description": "Brewing guide", "quantity": "1", "unit_price": "30.00",
          "tax": "0.00", "tax_code": "FREE", "tax_rate": "0"},
         {"line_id": "3", "kind": "shipping", "description": "Shipping", "quantity": "1", "unit_price": "10.00",
          "tax": "1.00", "tax_code": "GST", "tax_rate": "10"},
     ]},
    # A foreign-currency order with the partner's own rate (USD per AUD) and a 4-decimal unit price.
    {"id": "SO-2", "currency": "USD", "currency_rate": "0.65432100", "base_currency": "AUD",
     "created_at": "2025-03-02T10:00:00Z", "grand_total": "37.02", "contact": CONTACTS[1], "payment_method": "card",
     "lines": [
         {"line_id": "1", "sku": "MUG-1", "description": "Stoneware mug", "quantity": "3", "unit_price": "11.2167",
          "tax": "3.37", "tax_code": "GST", "tax_rate": "10"},
     ]},
]  # fmt: skip
PAYMENTS = [
    {"id": "PAY-1", "order_id": "SO-1", "amount": "40.00", "currency": "AUD", "method": "card",
     "paid_at": "2025-03-01T11:00:00Z", "reference": "ch_1"},
    {"id": "PAY-2", "order_id": "SO-2", "amount": "37.02", "currency": "USD", "method": "card",
     "paid_at": "2025-03-02T11:00:00Z", "reference": "ch_2"},
]  # fmt: skip
# One mug of SO-1 back: 11.25 + 1.13 tax (refunds by line; fees are the refund flow's own tests).
REFUNDS = [
    {"id": "R-1", "order_id": "SO-1", "currency": "AUD", "refunded_at": "2025-03-05T09:00:00Z", "total": "12.38",
     "lines": [{"line_id": "1", "sku": "MUG-1", "description": "Stoneware mug", "quantity": "1",
                               "amount": "11.25", "tax": "1.13", "tax_code": "GST", "tax_rate": "10"}]},
]  # fmt: skip


def _push(api, tenant, entity, records):
    response = api.post(f"/api/v1/tenants/{tenant.pk}/ingest/{entity}/", {"records": records}, format="json")
    assert response.status_code == 202, response.content
    return response.json()


def _partner(tenant, agency, api, *, name):
    with tenant_scope(tenant):
        xero, _ = xero_for(tenant, name=f"Org {name}")
        source = connection_create(tenant=tenant, provider_id="rest", display_name=name)
    _, key = tenant_services.api_key_create(agency=agency, name=name)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return xero, source


def _sync(tenant, xero, source):
    with tenant_scope(tenant):
        inbound_events_process_pending(transport=TRANSPORT)
        map_everything(source, xero)
        drain_until_idle(xero)
        assert not held_causes(xero), held_causes(xero)
        assert not SyncJob.objects.exclude(state__in=["done", "discarded"]).exists()
        return {(x.entity, x.source_id): x.xero_id for x in CrossReference.objects.all()}


def test_partner_records_reach_xero_exact_to_the_cent(world, api):
    mine, other = world.tenant_a1, world.tenant_b1
    other_xero, other_source = _partner(other, world.agency_b, api, name="crm-b")
    _push(api, other, "contacts", [CONTACTS[1]])
    xero, source = _partner(mine, world.agency_a, api, name="crm-a")
    with tenant_scope(mine):
        # This tenant keeps stock in Xero: tracked products become tracked inventory items.
        PostingPolicy.objects.create(
            tenant=mine, source_connection=source, track_inventory=True, inventory_account_code="630",
            cogs_account_code="310",
        )  # fmt: skip
    for entity, records in (("contacts", CONTACTS), ("products", PRODUCTS), ("orders", ORDERS)):
        _push(api, mine, entity, records)
    # A payment and a refund pushed before their invoices reached Xero wait for them.
    _push(api, mine, "payments", PAYMENTS)
    _push(api, mine, "refunds", REFUNDS)
    xrefs = _sync(mine, xero, source)

    contacts = {c["ContactID"]: c for c in xero_read(xero, "Contacts")}
    ana = contacts[xrefs[("contact", "C-1")]]
    assert (ana["Name"], ana["EmailAddress"], ana["TaxNumber"]) == (
        "Lima Trading",
        "ana@lima.example",
        "51 824 753 556",
    )
    assert (ana["FirstName"], ana["LastName"]) == ("Ana", "Lima")
    assert ana["Phones"][0]["PhoneNumber"] == "+61 2 9000 1111"
    assert ana["Addresses"][0]["AddressLine2"] == "Level 2" and ana["Addresses"][0]["City"] == "Sydney"
    assert ana["ContactNumber"].startswith("LB")

    items = {i["Code"]: i for i in xero_read(xero, "Items")}
    mug, book = items["MUG-1"], items["BOOK-1"]
    assert mug["IsTrackedAsInventory"] and mug["InventoryAssetAccountCode"] == "630"
    assert mug["PurchaseDetails"]["COGSAccountCode"] == "310" and mug["PurchaseDetails"]["UnitPrice"] == Decimal(
        "4.125"
    )
    assert mug["SalesDetails"]["UnitPrice"] == Decimal("12.5") and mug["Description"] == "Hand-thrown, 350 ml"
    assert not book.get("IsTrackedAsInventory") and book["SalesDetails"]["UnitPrice"] == Decimal("30")

    invoices = {i["InvoiceID"]: i for i in xero_read(xero, "Invoices")}
    first, second = invoices[xrefs[("invoice", "SO-1")]], invoices[xrefs[("invoice", "SO-2")]]
    assert (first["Total"], first["TotalTax"], first["Reference"]) == (Decimal("65.75"), Decimal("3.25"), "SO-1")
    assert len({line["TaxType"] for line in first["LineItems"]}) == 2
    assert first["LineItems"][0]["DiscountAmount"] == Decimal("2.50")
    assert (second["Total"], second["CurrencyCode"], second["CurrencyRate"]) == (
        Decimal("37.02"),
        "USD",
        Decimal("0.654321"),
    )
    assert second["LineItems"][0]["UnitAmount"] == Decimal("11.2167")
    assert second["Status"] == "PAID" and second["AmountPaid"] == Decimal("37.02")
    note = next(n for n in xero_read(xero, "CreditNotes") if n["CreditNoteID"] == xrefs[("credit_note", "R-1")])
    assert note["Total"] == Decimal("12.38")
    # SO-1: 65.75 − 40.00 paid − the credit note, when it is allocated to the invoice.
    credited = sum((a["Amount"] for a in note.get("Allocations") or []), Decimal(0))
    assert first["AmountPaid"] == Decimal("40.00") and first["AmountDue"] == Decimal("25.75") - credited

    # Pushing the same records again changes nothing in Xero.
    for entity, records in (("contacts", CONTACTS), ("orders", ORDERS), ("payments", PAYMENTS)):
        assert _push(api, mine, entity, records)["accepted"] == 0
    assert len(xero_read(xero, "Invoices")) == 2

    api.credentials(HTTP_AUTHORIZATION="")
    with tenant_scope(other):
        assert {x.source_id for x in CrossReference.objects.all()} == set()
    other_xrefs = _sync(other, other_xero, other_source)
    assert set(other_xrefs) == {("contact", "C-2")}
    assert not xero_read(other_xero, "Invoices") and not xero_read(other_xero, "Items")
