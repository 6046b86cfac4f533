"""Issue 7's scenarios for Magento, played with Magento's own documents through the real path into the sandbox Xero.

Each tenant has a GB Xero organisation and a GBP Magento store (generated catalog and customers) mapped by an admin
accepting every suggestion plus two tracking mappings. The scenario orders are chosen (sandbox.magento.chosen): exact
lines, coupon, shipping, currency and rate. Payments (Magento invoices), credit memos, edits and cancellations are
Magento's own documents; the store is polled (or its webhook delivered), the inbox processed and the drain run, and
what an accountant checks is read back over the sandbox Xero's API. Another tenant's store and organisation are
synced the same way and must be untouched.
"""

import json
from decimal import Decimal

import pytest

from connections.providers.xero.accounting import parse
from mappings.models import TaxMapping, TrackingMapping
from sandbox.magento import services as magento
from sandbox.magento.chosen import ChosenLine, order_create, order_lines_add
from sandbox.magento.generator import catalog_from_store, generate
from sandbox.magento.models import Order as NativeOrder
from sandbox.magento.models import Store
from sandbox.magento.services import store_create
from sync.models import CrossReference, SyncJob
from sync.services.drain import drain_run
from sync.services.processing import inbound_events_process_pending
from tenants.scoping import tenant_scope
from tests.sandbox_world import magento_connection_for, xero_client
from tests.sync.flow_helpers import TRANSPORT, drain_until_idle, held_causes, map_everything, poll_and_process, xero_for

pytestmark = pytest.mark.django_db
CENT = Decimal("0.01")
TRACKING = [{"Name": "Sales Channel", "Option": "Online"}, {"Name": "Region", "Option": "North"}]


def money(value) -> Decimal:
    return Decimal(str(value)).quantize(CENT)


class Shop:
    """One tenant's Magento store and Xero organisation, synced and mapped, with nothing ordered yet."""

    def __init__(self, tenant, code):
        self.tenant, self.code = tenant, code
        with tenant_scope(tenant):
            self.xero, self.org = xero_for(tenant, name=f"Org {code}", country="GB")
            credentials = store_create(code=code, currency="GBP")
            generate(account=code, seed=3, customers=3, orders=0)
            self.source = magento_connection_for(tenant, credentials)
        self.store = Store.objects.get(code=code)
        self.catalog = catalog_from_store(self.store)
        # A first order shows the store's two tax codes; the admin accepts the suggestions and maps tracking.
        self.order([ChosenLine(self.simple(tax_class=2)[0].sku), ChosenLine(self.simple(tax_class=5)[-1].sku)])
        with tenant_scope(tenant):
            poll_and_process(self.source)
            drain_until_idle(self.xero)
            assert held_causes(self.xero)  # nothing is mapped yet
            map_everything(self.source, self.xero)
            for attribute, value, category, option in (
                ("store", "1", "Sales Channel", "Online"),
                ("customer_group", "", "Region", "North"),
            ):
                TrackingMapping.objects.create(
                    tenant=tenant,
                    source_connection=self.source,
                    source_attribute=attribute,
                    source_value=value,
                    xero_category=category,
                    xero_option=option,
                )
        self.sync()

    def simple(self, *, tax_class: int) -> list:
        return [p for p in self.catalog if not p.children and p.tax_class_id == tax_class]

    def configurable(self):
        return next(p for p in self.catalog if p.children)

    def order(self, lines, **options) -> dict:
        return order_create(account=self.code, lines=lines, customer_id=1, **options)

    def sync(self):
        """Poll the store, process the inbox, drain to Xero until nothing is waiting; nothing new is held."""
        with tenant_scope(self.tenant):
            held = held_causes(self.xero)
            poll_and_process(self.source)
            drain_until_idle(self.xero)
            assert held_causes(self.xero) == held, held_causes(self.xero) - held

    def native(self, order_id) -> dict:
        return NativeOrder.objects.get(store=self.store, entity_id=order_id).as_dict()

    def xero_id(self, entity, source_id) -> str:
        with tenant_scope(self.tenant):
            return CrossReference.objects.get(entity=entity, source_id=str(source_id)).xero_id

    def get(self, path, **params) -> dict:
        with tenant_scope(self.tenant), xero_client(self.xero) as client:
            return parse(client.get(path, params={"unitdp": 4, **params}))

    def invoice(self, order_id) -> dict:
        return self.get(f"Invoices/{self.xero_id('invoice', order_id)}")["Invoices"][0]

    def credit_note(self, memo_id) -> dict:
        return self.get(f"CreditNotes/{self.xero_id('credit_note', memo_id)}")["CreditNotes"][0]

    def tax_type(self, code: str) -> str:
        with tenant_scope(self.tenant):
            return TaxMapping.objects.get(source_connection=self.source, tax_code=code).xero_tax_type

    def jobs(self, **filters) -> list[SyncJob]:
        with tenant_scope(self.tenant):
            return list(SyncJob.objects.filter(**filters))

    def xero_state(self) -> dict:
        """Every document in this tenant's Xero organisation with its status and money."""
        state = {}
        for collection, key in (("Invoices", "InvoiceID"), ("CreditNotes", "CreditNoteID"), ("Payments", "PaymentID")):
            for record in self.get(collection).get(collection, []):
                state[record[key]] = (record.get("Status"), record.get("Total") or record.get("Amount"))
        return state


@pytest.fixture
def shops(world):
    mine, other = Shop(world.tenant_a1, "e2ea"), Shop(world.tenant_b1, "e2eb")
    before, jobs = other.xero_state(), {(j.pk, j.state) for j in other.jobs()}
    assert before and jobs
    yield mine, other
    # Nothing one tenant's orders did reached the other tenant's Xero organisation or jobs.
    assert other.xero_state() == before
    assert {(j.pk, j.state) for j in other.jobs()} == jobs


def _row_taxes(order: dict) -> dict:
    """Magento's applied tax per order row: {item_id: (code, percent)}."""
    return {
        entry["item_id"]: (entry["applied_taxes"][0]["code"], Decimal(str(entry["applied_taxes"][0]["percent"])))
        for entry in order["extension_attributes"]["item_applied_taxes"]
        if entry["type"] == "product"
    }


def test_a_seven_line_order_with_a_configurable_product_discount_shipping_and_two_tax_rates(shops):
    mine, _ = shops
    standard, reduced = mine.simple(tax_class=2), mine.simple(tax_class=5)
    hoodie = mine.configurable()
    size = hoodie.children[1]
    lines = [
        ChosenLine(standard[1].sku, 1),
        ChosenLine(standard[2].sku, 2),
        ChosenLine(standard[3].sku, 3),
        ChosenLine(standard[4].sku, 1),
        ChosenLine(reduced[0].sku, 2),
        ChosenLine(reduced[1].sku, 1),
        ChosenLine(hoodie.sku, 2, child_sku=size[1]),
    ]
    order = mine.order(lines, coupon=("SAVE10", Decimal(10)), shipping="tablerate_bestway")
    parents = [i for i in order["items"] if not i.get("parent_item_id")]
    (child,) = [i for i in order["items"] if i.get("parent_item_id")]
    taxes = _row_taxes(order)
    assert len(parents) == 7 and len(order["items"]) == 8
    assert {percent for _, percent in taxes.values()} == {Decimal(20), Decimal(5)}
    assert money(order["discount_amount"]) < 0 and money(order["shipping_amount"]) > 0

    mine.sync()
    invoice = mine.invoice(order["entity_id"])
    assert invoice["Reference"] == order["increment_id"] and invoice["InvoiceNumber"] == order["increment_id"]
    assert invoice["Status"] == "AUTHORISED" and invoice["LineAmountTypes"] == "Exclusive"
    assert invoice["CurrencyCode"] == "GBP"
    # The Xero total is Magento's grand total to the cent, tax included; no rounding line was needed, because each
    # line's tax is the row's own tax.
    assert money(invoice["Total"]) == money(order["grand_total"])
    assert money(invoice["TotalTax"]) == money(order["tax_amount"])
    assert not [x for x in invoice["LineItems"] if x["Description"] == "Rounding adjustment"]
    assert len(invoice["LineItems"]) == 8  # seven products and the shipping

    by_code = {x.get("ItemCode"): x for x in invoice["LineItems"]}
    assert set(by_code) == {row["sku"] for row in parents} | {None}
    for row in parents:
        line = by_code[row["sku"]]
        code, percent = taxes[row["item_id"]]
        assert line["Description"] == row["name"]
        assert Decimal(line["Quantity"]) == Decimal(str(row["qty_ordered"]))
        assert Decimal(line["UnitAmount"]) == Decimal(str(row["price"]))
        assert money(line["DiscountAmount"]) == money(row["discount_amount"]) > 0
        assert money(line["LineAmount"]) == money(row["row_total"]) - money(row["discount_amount"])
        assert money(line["TaxAmount"]) == money(row["tax_amount"])
        assert line["TaxType"] == mine.tax_type(code)
        assert line["AccountCode"] == "200"
        assert [{"Name": t["Name"], "Option": t["Option"]} for t in line["Tracking"]] == TRACKING
    assert len({by_code[row["sku"]]["TaxType"] for row in parents}) == 2

    # The configurable product is one line: the child's SKU as the item, the parent row's price and quantity.
    hoodie_line = by_code[size[1]]
    assert hoodie_line["Description"] == hoodie.name and child["sku"] == size[1] and child["price"] == 0
    assert Decimal(hoodie_line["UnitAmount"]) == hoodie.price and Decimal(hoodie_line["Quantity"]) == 2
    assert hoodie.sku not in by_code

    shipping = by_code[None]
    assert shipping["Description"] == order["shipping_description"] == "Best Way - Table Rate"
    assert Decimal(shipping["UnitAmount"]) == Decimal(str(order["shipping_amount"]))
    assert money(shipping["TaxAmount"]) == money(order["shipping_tax_amount"])
    assert shipping["AccountCode"] == "210" and shipping["TaxType"] == by_code[standard[1].sku]["TaxType"]


def test_a_foreign_currency_order_uses_magentos_rate_and_is_paid_in_its_currency(shops):
    mine, _ = shops
    rate = Decimal("1.1702")  # the store's own rate that day, not the simulator's default for GBP→EUR
    order = mine.order(
        [ChosenLine(mine.simple(tax_class=2)[1].sku, 2), ChosenLine(mine.simple(tax_class=5)[0].sku, 1)],
        currency="EUR",
        rate=rate,
        payment="banktransfer",
    )
    assert order["base_currency_code"] == "GBP" and order["order_currency_code"] == "EUR"
    assert money(order["grand_total"]) != money(order["base_grand_total"])
    mine.sync()
    invoice = mine.invoice(order["entity_id"])
    assert invoice["CurrencyCode"] == "EUR" and Decimal(invoice["CurrencyRate"]) == rate
    assert money(invoice["Total"]) == money(order["grand_total"])  # in euros, not the base pounds
    prices = sorted(Decimal(x["UnitAmount"]) for x in invoice["LineItems"] if x.get("ItemCode"))
    assert prices == sorted(Decimal(str(i["price"])) for i in order["items"])

    magento.invoice_create(store=mine.store, order_id=order["entity_id"])  # the customer pays, in euros
    with tenant_scope(mine.tenant):
        poll_and_process(mine.source)
        drain_until_idle(mine.xero)
        # The first euro payment by bank transfer needs an account for euros: the admin accepts the suggestion.
        assert held_causes(mine.xero) == {
            f"Payment method “banktransfer” of Magento “Shop {mine.code}” is not mapped to a Xero bank account for EUR."
        }
        map_everything(mine.source, mine.xero)
        drain_until_idle(mine.xero)
        assert not held_causes(mine.xero)
    invoice = mine.invoice(order["entity_id"])
    assert invoice["Status"] == "PAID" and money(invoice["AmountPaid"]) == money(order["grand_total"])
    (payment,) = invoice["Payments"]
    assert money(payment["Amount"]) == money(order["grand_total"])


def _a_refund_of_one_line_is_a_credit_note_with_that_line_allocated(mine):
    taxed = mine.simple(tax_class=2)
    order = mine.order([ChosenLine(taxed[5].sku, 2), ChosenLine(taxed[6].sku, 1), ChosenLine(taxed[7].sku, 1)])
    first, second, _ = order["items"]
    mine.sync()
    # The customer pays for the first two lines, then returns one unit of the first.
    magento.invoice_create(
        store=mine.store,
        order_id=order["entity_id"],
        items=[{"order_item_id": first["item_id"], "qty": 2}, {"order_item_id": second["item_id"], "qty": 1}],
    )
    memo_id = magento.creditmemo_create(
        store=mine.store,
        order_id=order["entity_id"],
        items=[{"order_item_id": first["item_id"], "qty": 1}],
        arguments={"shipping_amount": 0},
    )
    mine.sync()
    native = mine.native(order["entity_id"])
    refunded, paid = money(native["total_refunded"]), money(native["total_paid"])
    note = mine.credit_note(memo_id)
    (line,) = note["LineItems"]
    assert line["ItemCode"] == first["sku"] and line["Description"] == first["name"]
    assert Decimal(line["Quantity"]) == 1 and Decimal(line["UnitAmount"]) == Decimal(str(first["price"]))
    assert line["AccountCode"] == "200" and line["TaxType"] == mine.tax_type(_row_taxes(order)[first["item_id"]][0])
    assert money(note["Total"]) == refunded > 0
    # Allocated to the invoice, whose amount due is larger than the refund.
    assert note["Status"] == "PAID" and money(note["RemainingCredit"]) == 0
    invoice = mine.invoice(order["entity_id"])
    assert money(invoice["AmountCredited"]) == refunded
    assert money(invoice["AmountDue"]) == money(order["grand_total"]) - paid - refunded


def _an_edit_updates_the_invoice_until_a_payment_then_needs_attention(mine):
    taxed = mine.simple(tax_class=2)
    order = mine.order([ChosenLine(taxed[8].sku, 1), ChosenLine(taxed[9].sku, 1)])
    mine.sync()
    invoice_id = mine.invoice(order["entity_id"])["InvoiceID"]

    edited = order_lines_add(account=mine.code, order_id=order["entity_id"], lines=[ChosenLine(taxed[10].sku, 1)])
    assert money(edited["grand_total"]) > money(order["grand_total"])
    mine.sync()
    invoice = mine.invoice(order["entity_id"])
    assert invoice["InvoiceID"] == invoice_id and invoice["Status"] == "AUTHORISED"
    assert money(invoice["Total"]) == money(edited["grand_total"])
    assert taxed[10].sku in {x.get("ItemCode") for x in invoice["LineItems"]}

    magento.invoice_create(store=mine.store, order_id=order["entity_id"])  # paid in full
    mine.sync()
    paid = mine.invoice(order["entity_id"])
    assert paid["Status"] == "PAID"
    order_lines_add(account=mine.code, order_id=order["entity_id"], lines=[ChosenLine(taxed[11].sku, 1)])
    with tenant_scope(mine.tenant):
        poll_and_process(mine.source)
        drain_until_idle(mine.xero)
    (held,) = mine.jobs(entity="invoice", source_id=str(order["entity_id"]), state=SyncJob.State.NEEDS_ATTENTION)
    assert held.cause.startswith(f"Order {order['increment_id']} was edited")
    assert "does not allow changing" in held.cause
    assert held.cause.endswith("Refund or credit the difference in the source, or edit in Xero.")
    assert mine.invoice(order["entity_id"]) == paid  # Xero's invoice untouched


def _a_cancelled_order_voids_its_invoice(mine):
    order = mine.order([ChosenLine(mine.simple(tax_class=5)[1].sku, 1)])
    mine.sync()
    assert mine.invoice(order["entity_id"])["Status"] == "AUTHORISED"
    assert magento.order_cancel(store=mine.store, order_id=order["entity_id"])
    mine.sync()
    assert mine.native(order["entity_id"])["state"] == "canceled"
    assert mine.invoice(order["entity_id"])["Status"] == "VOIDED"


def _a_payment_arriving_before_its_invoice_waits_then_is_applied(mine, client):
    order = mine.order([ChosenLine(mine.simple(tax_class=2)[12].sku, 1)])
    invoice_id = magento.invoice_create(store=mine.store, order_id=order["entity_id"])
    # Adobe Commerce announces the Magento invoice (the payment) before anyone polled the order.
    body = {"eventName": "observer.sales_order_invoice_save_after", "data": {"invoice": {"entity_id": invoice_id}}}
    url = f"/webhooks/magento/{mine.source.webhook_token}/"
    assert client.post(url, data=json.dumps(body), content_type="application/json").status_code == 200
    with tenant_scope(mine.tenant):
        inbound_events_process_pending(connection=mine.source, transport=TRANSPORT)
        drain_run(xero_connection=mine.xero, transport=TRANSPORT)
    (payment,) = mine.jobs(entity="payment", source_id=str(invoice_id))
    assert payment.state == SyncJob.State.PENDING
    assert payment.cause == f"Waiting for invoice {order['entity_id']} to reach Xero."
    assert not mine.jobs(entity="invoice", source_id=str(order["entity_id"]), state=SyncJob.State.DONE)

    mine.sync()  # the order is polled, its invoice reaches Xero, and the waiting payment follows
    invoice = mine.invoice(order["entity_id"])
    assert invoice["Status"] == "PAID" and money(invoice["AmountPaid"]) == money(order["grand_total"])
    assert len(invoice["Payments"]) == 1


def test_refund_of_one_line_edits_cancel_and_an_early_payment(shops, client):
    mine, _ = shops
    _a_refund_of_one_line_is_a_credit_note_with_that_line_allocated(mine)
    _an_edit_updates_the_invoice_until_a_payment_then_needs_attention(mine)
    _a_cancelled_order_voids_its_invoice(mine)
    _a_payment_arriving_before_its_invoice_waits_then_is_applied(mine, client)
