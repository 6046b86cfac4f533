"""Gorgias through the whole engine into Xero: customers, the shop orders and refunds in their integration data, and
support tickets as notes in the contact's history when the tenant turns them on.

Two tenants on their own helpdesks and Xero organisations; only the first turns ticket notes on. Everything is read
back from the Xero sandbox over its API.
"""

import json
from decimal import Decimal

import pytest

from mappings.models import ContactPolicy
from sandbox.gorgias.generator import generate
from sandbox.gorgias.models import GorgiasRecord
from sandbox.gorgias.services import account_ensure
from sync.models import CrossReference, SyncJob
from tenants.scoping import tenant_scope
from tests.connections.test_source_gorgias import START, gorgias_connection
from tests.sandbox_world import xero_client
from tests.sync.flow_helpers import drain_until_idle, held_causes, map_everything, poll_and_process, xero_for, xero_read

pytestmark = pytest.mark.django_db
CENT = Decimal("0.01")


def _records(account, kind) -> list[dict]:
    rows = GorgiasRecord.objects.filter(account=account, kind=kind).values_list("body", flat=True)
    return [json.loads(body) for body in rows]


def _helpdesk(tenant, *, domain, seed, notes):
    with tenant_scope(tenant):
        xero, _ = xero_for(tenant, name=f"Org {domain}")
        account = account_ensure(domain=domain)
        generate(account=account.domain, seed=seed, customers=12, orders=24, tickets=6, start=START)
        source = gorgias_connection(tenant, account)
        if notes:
            ContactPolicy.objects.create(tenant=tenant, source_connection=source, ticket_notes=True)
        return xero, account, source


def _history(xero, contact_id) -> list[str]:
    with xero_client(xero) as client:
        records = client.get(f"Contacts/{contact_id}/History").json()["HistoryRecords"]
    return [r.get("Details", "") for r in records if "Gorgias ticket" in r.get("Details", "")]


def test_gorgias_customers_orders_and_tickets_reach_xero(world):
    mine, other = world.tenant_a1, world.tenant_b1
    xero, account, source = _helpdesk(mine, domain="g-flow-a", seed=5, notes=True)
    other_xero, other_account, other_source = _helpdesk(other, domain="g-flow-b", seed=6, notes=False)
    for tenant, x, s in ((mine, xero, source), (other, other_xero, other_source)):
        with tenant_scope(tenant):
            poll_and_process(s)
            map_everything(s, x)
            drain_until_idle(x)
            assert not held_causes(x), held_causes(x)
            left = SyncJob.objects.exclude(state__in=["done", "discarded"])
            assert not left.exists(), [(j.source_id, j.cause) for j in left]

    with tenant_scope(mine):
        xrefs = {(x.entity, x.source_id): x.xero_id for x in CrossReference.objects.all()}
    customers = _records(account, GorgiasRecord.Kind.CUSTOMER)
    contacts = {c["ContactID"]: c for c in xero_read(xero, "Contacts")}
    for customer in customers:
        contact = contacts[xrefs[("contact", str(customer["id"]))]]
        assert contact["EmailAddress"] == customer["email"]
        assert (contact["FirstName"], contact["LastName"]) == (customer["firstname"], customer["lastname"])
        assert contact["Name"].startswith(customer["name"])
    names = [c["Name"] for c in contacts.values()]
    assert len(names) == len(set(names))  # customers sharing a name were told apart

    # Every shop order in the customers' integration data is an invoice equal to its total, in its currency.
    invoices = {i["InvoiceID"]: i for i in xero_read(xero, "Invoices")}
    credit_notes = {n["CreditNoteID"]: n for n in xero_read(xero, "CreditNotes")}
    orders = refunds = foreign = 0
    for customer in customers:
        for data in customer["integrations"].values():
            for order in data["orders"]:
                key = f"{customer['id']}:{order['id']}"
                if order.get("cancelled_at"):
                    assert ("invoice", key) not in xrefs
                    continue
                invoice = invoices[xrefs[("invoice", key)]]
                assert invoice["Total"] == Decimal(order["total_price"]).quantize(CENT), key
                assert invoice["CurrencyCode"] == order["currency"]
                assert invoice["Reference"] == order["name"]
                assert invoice["Contact"]["ContactID"] == xrefs[("contact", str(customer["id"]))]
                orders += 1
                foreign += order["currency"] != "AUD"
                for refund in order.get("refunds") or []:
                    paid = sum(Decimal(t["amount"]) for t in refund["transactions"] if t["kind"] == "refund")
                    note = credit_notes[xrefs[("credit_note", f"{key}:{refund['id']}")]]
                    assert note["Total"] == paid.quantize(CENT)
                    refunds += 1
    assert orders > 10 and refunds and foreign

    # Each ticket is one short note on its customer's contact.
    tickets = _records(account, GorgiasRecord.Kind.TICKET)
    assert tickets
    for customer in customers:
        theirs = [t for t in tickets if t["customer"]["id"] == customer["id"]]
        notes = _history(xero, xrefs[("contact", str(customer["id"]))])
        assert sorted(notes) == sorted(
            next(n for n in notes if f"#{t['id']} " in n and t["subject"] in n) for t in theirs
        ), customer["id"]
        assert all(len(n) <= 250 for n in notes)

    # Polling again adds no second note for a ticket already noted.
    with tenant_scope(mine):
        poll_and_process(source)
        drain_until_idle(xero)
    assert sum(len(_history(xero, xrefs[("contact", str(c["id"]))])) for c in customers) == len(tickets)

    # The other tenant left ticket notes off: its contacts have none, and it never saw this tenant's records.
    with tenant_scope(other):
        assert not SyncJob.objects.filter(operation=SyncJob.Operation.CONTACT_NOTE).exists()
        other_contacts = [x.xero_id for x in CrossReference.objects.filter(entity="contact")]
        assert other_contacts and not CrossReference.objects.filter(source_connection=source).exists()
    assert not any(_history(other_xero, contact_id) for contact_id in other_contacts)
    theirs = {c["email"] for c in _records(other_account, GorgiasRecord.Kind.CUSTOMER)}
    assert {c["EmailAddress"] for c in xero_read(other_xero, "Contacts")} == theirs
    assert theirs.isdisjoint(c["email"] for c in customers)
