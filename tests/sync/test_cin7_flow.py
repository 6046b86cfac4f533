"""Cin7 Core through the whole engine into Xero: customers, suppliers, products, sales, payments, credit notes.

Poll → process → stage → map → drain, against the Cin7 and Xero simulators, in two tenants that never see each
other's records. Everything is read back from the Xero sandbox over its API: every invoice equals its sale's
order total to the cent, payments and credit notes equal Cin7's, foreign-currency sales carry Cin7's own rate.
"""

import json
from decimal import Decimal

import pytest

from connections.providers.xero import accounting
from sandbox.cin7.generator import generate
from sandbox.cin7.models import Cin7Record
from sandbox.cin7.sales import line_amounts, task_totals
from sandbox.cin7.services import account_ensure, record_store, sale_store
from sandbox.faults import fault_profile_set
from sync.models import CrossReference, SyncJob
from tenants.scoping import tenant_scope
from tests.connections.test_source_cin7 import cin7_connection
from tests.sandbox_world import xero_client
from tests.sync.flow_helpers import drain_until_idle, held_causes, map_everything, poll_and_process, xero_for, xero_read

pytestmark = pytest.mark.django_db
CENT = Decimal("0.01")
SEVEN_LINE_SALE = "5e7e0000-0000-4000-8000-000000000007"


def _records(account, kind) -> list[dict]:
    return [
        json.loads(body)
        for body in Cin7Record.objects.filter(account=account, kind=kind).values_list("body", flat=True)
    ]


def _seven_line_sale(account) -> dict:
    """A tax-exclusive AUD sale with 7 lines, percentage discounts, freight and two tax rates (10 % and 5 %)."""
    customer = next(c for c in _records(account, Cin7Record.Kind.CUSTOMER) if c["Currency"] == "AUD")
    products = _records(account, Cin7Record.Kind.PRODUCT)[:7]
    rules = {"GST on Income": Decimal(10), "Reduced Rate 5%": Decimal(5)}
    lines = []
    for n, product in enumerate(products):
        rule = "Reduced Rate 5%" if n % 3 == 2 else "GST on Income"
        quantity, price, discount = (
            Decimal(n % 3 + 1),
            Decimal(str(product["PriceTier1"])),
            Decimal(12.5 if n % 2 else 0),
        )
        total, tax = line_amounts(
            quantity=quantity, price=price, discount=discount, percent=rules[rule], inclusive=False
        )
        lines.append({"ProductID": product["ID"], "SKU": product["SKU"], "Name": product["Name"], "Quantity": quantity,
                      "Price": price, "Discount": discount, "Tax": tax, "TaxRule": rule, "Total": total})  # fmt: skip
    total, tax = line_amounts(quantity=Decimal(1), price=Decimal("14.50"), discount=Decimal(0), percent=Decimal(10),
                              inclusive=False)  # fmt: skip
    charges = [{"Description": "Freight", "Quantity": 1, "Price": Decimal("14.50"), "Discount": 0, "Tax": tax,
                "TaxRule": "GST on Income", "Total": total}]  # fmt: skip
    before, tax_total, grand = task_totals(lines=lines, charges=charges, inclusive=False)
    sale = {
        "ID": SEVEN_LINE_SALE,
        "Customer": customer["Name"],
        "CustomerID": customer["ID"],
        "Contact": customer["Contacts"][0]["Name"],
        "Email": customer["Contacts"][0]["Email"],
        "Phone": customer["Contacts"][0]["Phone"],
        "BaseCurrency": "AUD",
        "CustomerCurrency": "AUD",
        "CurrencyRate": 1,
        "TaxRule": "GST on Income",
        "TaxCalculation": "Exclusive",
        "Status": "ORDERED",
        "SaleOrderDate": "2025-03-03T00:00:00",
        "LastModifiedOn": "2025-03-03T10:00:00Z",
        "Order": {
            "SaleOrderNumber": "SO-07777",
            "Status": "AUTHORISED",
            "Lines": lines,
            "AdditionalCharges": charges,
            "TotalBeforeTax": before,
            "Tax": tax_total,
            "Total": grand,
        },  # fmt: skip
        "Invoices": [],
        "CreditNotes": [],
    }
    sale_store(account=account, sale=json.loads(json.dumps(sale, default=str)))
    return sale


def _tenant(tenant, *, name, seed, orders):
    with tenant_scope(tenant):
        xero, org = xero_for(tenant, name=f"Org {name}")
        account = account_ensure(name=name)
        generate(account=account.account_id, seed=seed, customers=10, orders=orders, suppliers=3)
        # One test worker reads the whole account at once; Cin7's minute limit is covered by the adapter's tests.
        fault_profile_set(system="cin7", account=account.account_id, rate_limits_enabled=False)
        return xero, account, cin7_connection(tenant, account)


def test_cin7_core_reaches_xero_exact_to_the_cent(world):
    mine, other = world.tenant_a1, world.tenant_b1
    xero, account, source = _tenant(mine, name="c7-flow-a", seed=3, orders=30)
    other_xero, other_account, other_source = _tenant(other, name="c7-flow-b", seed=8, orders=6)
    seven = _seven_line_sale(account)

    with tenant_scope(mine):
        poll_and_process(source)
        map_everything(source, xero)
        drain_until_idle(xero)
        assert not held_causes(xero), held_causes(xero)
        assert not SyncJob.objects.exclude(state__in=["done", "discarded"]).exists()
        xrefs = {(x.entity, x.source_id): x.xero_id for x in CrossReference.objects.all()}

    sales = {s["ID"]: s for s in _records(account, Cin7Record.Kind.SALE)}
    invoices = {i["InvoiceID"]: i for i in xero_read(xero, "Invoices")}
    open_sales = {k: s for k, s in sales.items() if s["Status"] != "VOIDED"}
    assert {sid for (entity, sid) in xrefs if entity == "invoice"} == set(open_sales)
    foreign = 0
    for sale_id, sale in open_sales.items():
        invoice = invoices[xrefs[("invoice", sale_id)]]
        assert invoice["Total"] == Decimal(str(sale["Order"]["Total"])).quantize(CENT), sale_id
        assert invoice["Reference"] == sale["Order"]["SaleOrderNumber"]
        assert invoice["CurrencyCode"] == sale["CustomerCurrency"]
        if sale["CustomerCurrency"] != "AUD":
            foreign += 1
            # Xero's rate is units of invoice currency per AUD: the inverse of Cin7's.
            assert invoice["CurrencyRate"] == (1 / Decimal(str(sale["CurrencyRate"]))).quantize(Decimal("0.000001"))
        paid = sum(
            (Decimal(str(p["Amount"])) for i in sale.get("Invoices") or [] for p in i.get("Payments") or []), Decimal(0)
        )
        assert invoice["AmountPaid"] == paid.quantize(CENT), sale_id
    assert foreign > 0

    # The sale with 7 lines, discounts, freight and two tax rates.
    invoice = invoices[xrefs[("invoice", SEVEN_LINE_SALE)]]
    assert invoice["Total"] == seven["Order"]["Total"] and invoice["TotalTax"] == seven["Order"]["Tax"]
    assert len(invoice["LineItems"]) == 8
    assert len({line["TaxType"] for line in invoice["LineItems"]}) == 2
    assert sum(1 for line in invoice["LineItems"] if line.get("DiscountRate") or line.get("DiscountAmount")) == 3
    assert [line["Description"] for line in invoice["LineItems"][:7]] == [x["Name"] for x in seven["Order"]["Lines"]]

    # Credit notes equal Cin7's, one per authorised credit note.
    notes = {n["CreditNoteID"]: n for n in xero_read(xero, "CreditNotes")}
    cin7_notes = {
        f"{s['ID']}:{n['TaskID']}": n
        for s in sales.values()
        for n in s.get("CreditNotes") or []
        if n["Status"] not in ("VOIDED", "DRAFT")
    }
    assert cin7_notes
    for source_id, note in cin7_notes.items():
        assert notes[xrefs[("credit_note", source_id)]]["Total"] == Decimal(str(note["Total"])).quantize(CENT)

    # Customers and suppliers are contacts with their details; products are items.
    contacts = {c["ContactID"]: c for c in xero_read(xero, "Contacts")}
    for customer in _records(account, Cin7Record.Kind.CUSTOMER):
        contact = contacts[xrefs[("contact", customer["ID"])]]
        assert contact["EmailAddress"] == customer["Contacts"][0]["Email"]
        assert contact["ContactNumber"]
        assert contact["Name"].startswith(customer["Name"])
        assert contact["Addresses"][0]["AddressLine1"] == customer["Addresses"][0]["Line1"]
    names = [c["Name"] for c in contacts.values()]
    assert len(names) == len(set(names))  # customers sharing a name were told apart
    for supplier in _records(account, Cin7Record.Kind.SUPPLIER):
        assert contacts[xrefs[("contact", supplier["ID"])]]["Name"] == supplier["Name"]
    items = {i["Code"]: i for i in xero_read(xero, "Items")}
    for product in _records(account, Cin7Record.Kind.PRODUCT):
        item = items[product["SKU"]]
        assert item["Name"] == product["Name"][:50]
        assert item["SalesDetails"]["UnitPrice"] == Decimal(str(product["PriceTier1"]))

    with tenant_scope(mine):
        again = poll_and_process(source)
        assert not SyncJob.objects.filter(state="pending").exists(), again
    with tenant_scope(other):
        assert not SyncJob.objects.exists() and not CrossReference.objects.exists()
    assert not xero_read(other_xero, "Invoices") and not xero_read(other_xero, "Items")


def _xero_contacts_put(xero, contacts: list[dict]) -> list[dict]:
    with xero_client(xero) as client:
        return accounting.parse(client.request("PUT", "Contacts", json_body={"Contacts": contacts}))["Contacts"]


def test_customers_and_suppliers_match_what_xero_already_has(world):
    mine, other = world.tenant_a1, world.tenant_b1
    xero, account, source = _tenant(mine, name="c7-match-a", seed=5, orders=4)
    other_xero, _, other_source = _tenant(other, name="c7-match-b", seed=5, orders=4)
    customers = sorted(_records(account, Cin7Record.Kind.CUSTOMER), key=lambda c: c["ID"])
    suppliers = sorted(_records(account, Cin7Record.Kind.SUPPLIER), key=lambda c: c["ID"])
    known, archived, deprecated, namesake = customers[:4]
    deprecated["Status"] = "Deprecated"
    namesake["Name"] = "Harper Lowe"
    suppliers[0]["TaxNumber"] = "51824753556"
    suppliers[1]["Contacts"] = [{"Name": "Orders Desk", "Email": "orders@beanhouse.com.au", "Default": True}]
    for record in (deprecated, namesake):
        record_store(account=account, kind=Cin7Record.Kind.CUSTOMER, record=record)
    for record in suppliers[:2]:
        record_store(account=account, kind=Cin7Record.Kind.SUPPLIER, record=record)
    # What the organisation already had before it was connected (entered by hand: no ContactNumber).
    existing = _xero_contacts_put(
        xero,
        [
            {"Name": "Known Customer (wholesale)", "EmailAddress": known["Contacts"][0]["Email"]},
            {"Name": "Former Customer", "EmailAddress": archived["Contacts"][0]["Email"]},
            {"Name": "Smith Roasting Co", "TaxNumber": "51 824 753 556"},
            {"Name": "Bean House", "EmailAddress": "accounts@beanhouse.com.au"},
            {"Name": "Harper Lowe", "EmailAddress": "someone.else@elsewhere.test"},
        ],
    )
    by_name = {c["Name"]: c["ContactID"] for c in existing}
    with xero_client(xero) as client:
        client.request(
            "POST",
            f"Contacts/{by_name['Former Customer']}",
            json_body={"Contacts": [{"ContactID": by_name["Former Customer"], "ContactStatus": "ARCHIVED"}]},
        )

    with tenant_scope(mine):
        poll_and_process(source)
        map_everything(source, xero)
        drain_until_idle(xero)
        assert not held_causes(xero), held_causes(xero)
        xrefs = {x.source_id: x.xero_id for x in CrossReference.objects.filter(entity="contact")}

    contacts = {c["ContactID"]: c for c in xero_read(xero, "Contacts", includeArchived="true")}
    # Matched by email: updated, not duplicated, and it keeps the name a person gave it.
    assert xrefs[known["ID"]] == by_name["Known Customer (wholesale)"]
    assert contacts[by_name["Known Customer (wholesale)"]]["Name"] == "Known Customer (wholesale)"
    assert contacts[by_name["Known Customer (wholesale)"]]["ContactNumber"].startswith("LB")
    # An archived Xero contact with the same email is not brought back: the customer gets a contact of its own.
    assert xrefs[archived["ID"]] != by_name["Former Customer"]
    assert contacts[by_name["Former Customer"]]["ContactStatus"] == "ARCHIVED"
    assert contacts[xrefs[archived["ID"]]]["ContactStatus"] == "ACTIVE"
    # A customer deprecated in Cin7 is archived in Xero.
    assert contacts[xrefs[deprecated["ID"]]]["ContactStatus"] == "ARCHIVED"
    # Same name, different email: a different person, told apart by the collision policy ("Name (email)").
    assert xrefs[namesake["ID"]] != by_name["Harper Lowe"]
    assert contacts[xrefs[namesake["ID"]]]["Name"] == f"Harper Lowe ({namesake['Contacts'][0]['Email']})"
    assert contacts[by_name["Harper Lowe"]]["EmailAddress"] == "someone.else@elsewhere.test"
    # Suppliers: by ABN (printed with or without spaces) and by their email's domain.
    assert xrefs[suppliers[0]["ID"]] == by_name["Smith Roasting Co"]
    assert xrefs[suppliers[1]["ID"]] == by_name["Bean House"]
    assert len(contacts) == len(existing) + len(customers) + len(suppliers) - 3

    with tenant_scope(other):
        assert not CrossReference.objects.exists()
    assert not xero_read(other_xero, "Contacts")
