"""Issue 7's scenarios for Cin7 Core after the invoice reached Xero, with Cin7's own sale documents: the sale edited
(its invoice updated), a credit note for one unit of one line (a credit note with that line, allocated to the unpaid
invoice) and a voided sale (its invoice voided); a paid sale edited afterwards (needs attention, the invoice kept);
and a payment announced by Cin7's webhook before its sale was
polled, which waits for the invoice. The 7-line sale and foreign-currency sales are in test_cin7_flow. Two tenants;
the other one's Xero organisation is untouched.
"""

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from connections.services import connection_set_webhook_secret
from sandbox.cin7.models import Cin7Record
from sandbox.cin7.sales import line_amounts, task_totals
from sandbox.cin7.services import sale_store
from sync.models import CrossReference, SyncJob
from sync.services.drain import drain_run
from sync.services.processing import inbound_events_process_pending
from tenants.scoping import tenant_scope
from tests.sync.flow_helpers import (
    TRANSPORT,
    sync_until_idle,
    xero_invoice,
    xero_read,
)
from tests.sync.test_cin7_flow import SEVEN_LINE_SALE, _seven_line_sale, _tenant

pytestmark = pytest.mark.django_db
CENT = Decimal("0.01")
EARLY_SALE = "5e7e0000-0000-4000-8000-000000000008"
RATES = {"GST on Income": Decimal(10), "Reduced Rate 5%": Decimal(5)}


def _sale(account, sale_id) -> dict:
    return json.loads(Cin7Record.objects.get(account=account, kind=Cin7Record.Kind.SALE, key=sale_id.lower()).body)


def _store(account, sale: dict, *, days: int) -> None:
    """Save the sale as Cin7 would after a change, modified `days` after now (so the next poll reads it)."""
    moment = datetime.now(UTC) + timedelta(days=days)
    sale["LastModifiedOn"] = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    sale_store(account=account, sale=json.loads(json.dumps(sale, default=str)), keep_loaded_header=False)


def _one_more_of_the_first_line(order: dict) -> dict:
    """Order one more of the sale's first line, with its amounts and the order's totals as Cin7 recomputes them."""
    line = order["Lines"][0]
    line["Quantity"] = Decimal(line["Quantity"]) + 1
    line["Total"], line["Tax"] = line_amounts(quantity=line["Quantity"], price=Decimal(str(line["Price"])),
                                              discount=Decimal(str(line["Discount"])),
                                              percent=RATES[line["TaxRule"]], inclusive=False)  # fmt: skip
    order["TotalBeforeTax"], order["Tax"], order["Total"] = task_totals(
        lines=order["Lines"], charges=order["AdditionalCharges"], inclusive=False
    )
    return line


def _paid_sale(account, sale_id: str, *, number: str, suffix: str) -> tuple[dict, dict]:
    """A completed copy of the seven-line sale, invoiced and paid in full in Cin7: (the sale, its payment)."""
    sale = _seven_line_sale(account) | {"ID": sale_id, "Status": "COMPLETED"}
    order = sale["Order"] = sale["Order"] | {"SaleOrderNumber": f"SO-{number}"}
    payment = {"ID": f"5e7e0000-0000-4000-8000-0000000000a{suffix}", "Reference": f"PAY-{number}",
               "Amount": order["Total"], "DatePaid": "2025-03-04T00:00:00", "Account": "090", "CurrencyRate": 1,
               "DateCreated": "2025-03-04T09:00:00Z"}  # fmt: skip
    sale["Invoices"] = [{"TaskID": f"5e7e0000-0000-4000-8000-0000000000b{suffix}", "InvoiceNumber": f"INV-{number}",
                         "Status": "PAID", "InvoiceDate": "2025-03-03T00:00:00", "Lines": order["Lines"],
                         "AdditionalCharges": order["AdditionalCharges"], "TotalBeforeTax": order["TotalBeforeTax"],
                         "Tax": order["Tax"], "Total": order["Total"], "Paid": order["Total"],
                         "Payments": [payment]}]  # fmt: skip
    return sale, payment


def test_a_sale_edited_credited_for_one_line_and_voided_after_its_invoice_reached_xero(world):
    mine, other = world.tenant_a1, world.tenant_b1
    xero, account, source = _tenant(mine, name="c7-scen-a", seed=3, orders=6)
    other_xero, _, other_source = _tenant(other, name="c7-scen-b", seed=8, orders=6)
    theirs = sync_until_idle(other, other_xero, other_source)
    their_invoices = xero_read(other_xero, "Invoices")
    seven = _seven_line_sale(account)
    xrefs = sync_until_idle(mine, xero, source)
    invoice_id = xrefs[("invoice", SEVEN_LINE_SALE)]
    assert xero_invoice(xero, invoice_id)["Status"] == "AUTHORISED"

    # The first line's quantity is corrected: Cin7 re-authorises the order with new totals.
    sale, order = seven, seven["Order"]
    line = _one_more_of_the_first_line(order)
    _store(account, sale, days=1)
    xrefs = sync_until_idle(mine, xero, source)
    assert xrefs[("invoice", SEVEN_LINE_SALE)] == invoice_id
    edited = xero_invoice(xero, invoice_id)
    assert edited["Status"] == "AUTHORISED" and edited["Total"] == order["Total"]
    assert edited["LineItems"][0]["Quantity"] == line["Quantity"]

    # One unit of the second line comes back: a credit note with that line, allocated to the unpaid invoice.
    returned = order["Lines"][1]
    total, tax = line_amounts(quantity=Decimal(1), price=Decimal(str(returned["Price"])),
                              discount=Decimal(str(returned["Discount"])), percent=RATES[returned["TaxRule"]],
                              inclusive=False)  # fmt: skip
    credit = {"TaskID": "5e7e0000-0000-4000-8000-0000000000c1", "CreditNoteInvoiceNumber": None,
              "CreditNoteNumber": "CR-07777", "CreditNoteDate": "2025-03-10T00:00:00", "Memo": "Return",
              "Status": "AUTHORISED", "Lines": [returned | {"Quantity": 1, "Total": total, "Tax": tax}],
              "AdditionalCharges": [], "Restock": [], "Refunds": []}  # fmt: skip
    credit["TotalBeforeTax"], credit["Tax"], credit["Total"] = task_totals(
        lines=credit["Lines"], charges=[], inclusive=False
    )
    sale["CreditNotes"] = [credit]
    _store(account, sale, days=2)
    xrefs = sync_until_idle(mine, xero, source)
    note = next(
        n
        for n in xero_read(xero, "CreditNotes")
        if n["CreditNoteID"] == xrefs[("credit_note", f"{SEVEN_LINE_SALE}:{credit['TaskID']}")]
    )
    (note_line,) = note["LineItems"]
    assert (note_line["Description"], note_line["Quantity"], note_line.get("ItemCode")) == (
        returned["Name"],
        1,
        returned["SKU"],
    )
    assert note["Total"] == credit["Total"] and note["RemainingCredit"] == 0
    credited = xero_invoice(xero, invoice_id)
    assert credited["AmountCredited"] == credit["Total"]
    assert credited["AmountDue"] == order["Total"] - credit["Total"]

    # Another open sale is voided in Cin7: its invoice is voided in Xero.
    unpaid = [
        s
        for s in (_sale(account, sid) for (entity, sid) in xrefs if entity == "invoice" and sid != SEVEN_LINE_SALE)
        if not any(i.get("Payments") for i in s.get("Invoices") or []) and not s.get("CreditNotes")
    ]
    voided = unpaid[0]
    voided["Status"] = voided["Order"]["Status"] = "VOIDED"
    for invoice in voided.get("Invoices") or []:
        invoice["Status"] = "VOIDED"
    _store(account, voided, days=3)
    xrefs = sync_until_idle(mine, xero, source)
    assert xero_invoice(xero, xrefs[("invoice", voided["ID"])])["Status"] == "VOIDED"

    with tenant_scope(other):
        assert {(x.entity, x.source_id): x.xero_id for x in CrossReference.objects.all()} == theirs
    assert xero_read(other_xero, "Invoices") == their_invoices


def test_a_payment_announced_before_its_sale_was_polled_waits_for_the_invoice(world, client):
    mine, other = world.tenant_a1, world.tenant_b1
    xero, account, source = _tenant(mine, name="c7-early-a", seed=3, orders=6)
    other_xero, _, other_source = _tenant(other, name="c7-early-b", seed=8, orders=6)
    theirs = sync_until_idle(other, other_xero, other_source)
    sync_until_idle(mine, xero, source)  # what the account already had, mapped
    with tenant_scope(mine):
        connection_set_webhook_secret(connection=source, secret="Authorization: Bearer cin7-hook-early")

    sale, payment = _paid_sale(account, EARLY_SALE, number="07778", suffix="1")
    order = sale["Order"]
    _store(account, sale, days=1)
    # Cin7 announces the payment; the sale itself has not been polled yet.
    body = {"SaleID": EARLY_SALE, "SaleOrderNumber": "SO-07778", "EventType": "Sale/FullPaymentReceived"}
    url = f"/webhooks/cin7/{source.webhook_token}/"
    answer = client.post(
        url, data=json.dumps(body), content_type="application/json", HTTP_AUTHORIZATION="Bearer cin7-hook-early"
    )
    assert answer.status_code == 200
    with tenant_scope(mine):
        inbound_events_process_pending(connection=source, transport=TRANSPORT)
        drain_run(xero_connection=xero, transport=TRANSPORT)
        (job,) = SyncJob.objects.filter(entity="payment", source_id=f"{EARLY_SALE}:{payment['ID']}")
    assert job.state == SyncJob.State.PENDING and job.cause == f"Waiting for invoice {EARLY_SALE} to reach Xero."

    xrefs = sync_until_idle(mine, xero, source)  # the sale is polled: its invoice, then the waiting payment
    invoice = xero_invoice(xero, xrefs[("invoice", EARLY_SALE)])
    assert invoice["Status"] == "PAID" and invoice["AmountPaid"] == order["Total"]
    assert len(invoice["Payments"]) == 1
    with tenant_scope(other):
        assert {(x.entity, x.source_id): x.xero_id for x in CrossReference.objects.all()} == theirs


PAID_SALE = "5e7e0000-0000-4000-8000-000000000009"


def test_a_sale_edited_after_its_payment_reached_xero_needs_attention_and_the_invoice_is_kept(world):
    mine, other = world.tenant_a1, world.tenant_b1
    xero, account, source = _tenant(mine, name="c7-paid-a", seed=3, orders=6)
    other_xero, _, other_source = _tenant(other, name="c7-paid-b", seed=8, orders=6)
    theirs = sync_until_idle(other, other_xero, other_source)
    their_invoices = xero_read(other_xero, "Invoices")
    sync_until_idle(mine, xero, source)

    sale, _ = _paid_sale(account, PAID_SALE, number="07779", suffix="2")
    order = sale["Order"]
    _store(account, sale, days=1)
    xrefs = sync_until_idle(mine, xero, source)
    invoice_id = xrefs[("invoice", PAID_SALE)]
    paid = xero_invoice(xero, invoice_id)
    assert paid["Status"] == "PAID" and paid["AmountPaid"] == order["Total"]

    # The paid sale's first line is changed in Cin7 afterwards: Xero refuses to edit a paid invoice.
    _one_more_of_the_first_line(order)
    _store(account, sale, days=2)
    sync_until_idle(mine, xero, source, held_allowed=True)
    with tenant_scope(mine):
        (held,) = SyncJob.objects.filter(state=SyncJob.State.NEEDS_ATTENTION)
    assert (held.entity, held.source_id) == ("invoice", PAID_SALE)
    assert held.cause.startswith("Order SO-07779 was edited") and "credit" in held.cause.lower()
    assert xero_invoice(xero, invoice_id) == paid  # not a cent changed in the books

    with tenant_scope(other):
        assert {(x.entity, x.source_id): x.xero_id for x in CrossReference.objects.all()} == theirs
    assert xero_read(other_xero, "Invoices") == their_invoices
