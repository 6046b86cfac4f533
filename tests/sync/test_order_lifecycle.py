"""Orders after their invoice reached Xero: edits, cancellations, payments and refunds, against the sandboxes.

A Magento store and a Xero organisation per tenant, mapped by accepting every suggestion; the story of each order is
played through the sandbox Magento's own actions (invoice = payment, refund = credit memo, cancel) or, for edits, a
new version of the canonical order; everything is read back from the sandbox Xero's API.
"""

from dataclasses import replace
from decimal import Decimal

import pytest

from connections.canonical import LineKind
from connections.providers.magento.normalize import normalize_order
from connections.providers.xero.reference import xero_reference_refresh
from core.money import quantize
from mappings.models import PostingPolicy
from mappings.suggestions import suggestions_accept, suggestions_refresh
from sandbox.magento import services as magento
from sandbox.magento.generator import generate
from sandbox.magento.models import Order as NativeOrder
from sandbox.magento.models import Store
from sandbox.magento.services import store_create
from sandbox.transport import SandboxTransport
from sync.models import AuditEntry, CrossReference, SyncJob
from sync.services.drain import drain_run
from sync.services.operations import needs_attention_recheck
from sync.services.polling import source_poll
from sync.services.processing import inbound_events_process_pending
from sync.services.staging import jobs_stage
from tenants.scoping import tenant_scope
from tests.sandbox_world import magento_connection_for, xero_client, xero_connection_for

pytestmark = pytest.mark.django_db
TRANSPORT = SandboxTransport()
State = SyncJob.State
CENT = Decimal("0.01")


class Shop:
    """One tenant's Magento store and Xero organisation, mapped, with a few pending (unpaid) orders."""

    def __init__(self, tenant, code, *, orders=12, inclusive=False):
        self.tenant, self.code = tenant, code
        with tenant_scope(tenant):
            self.xero, self.org = xero_connection_for(tenant, name=f"Org {code}", country="GB")
            xero_reference_refresh(connection=self.xero, client=xero_client(self.xero))
            store = store_create(code=code, currency="GBP", tax_inclusive=inclusive)
            generate(account=code, seed=7, customers=6, orders=orders, currency="GBP", tax_inclusive=inclusive)
            self.source = magento_connection_for(tenant, store)
        self.store = Store.objects.get(code=code)
        # What the store uses is seen on the first pass; accepting the suggested mappings releases what was held.
        self.sync()
        with tenant_scope(tenant):
            suggestions_accept(suggestions=suggestions_refresh(source_connection=self.source), actor="test")
            needs_attention_recheck(xero_connection=self.xero)
            drain_run(xero_connection=self.xero, transport=TRANSPORT)

    def sync(self):
        """Poll the store, process the inbox, drain to Xero."""
        with tenant_scope(self.tenant):
            source_poll(connection=self.source, transport=TRANSPORT)
            inbound_events_process_pending(transport=TRANSPORT)
            return drain_run(xero_connection=self.xero, transport=TRANSPORT)

    def native(self, order_id) -> dict:
        return NativeOrder.objects.get(store=self.store, entity_id=order_id).as_dict()

    def new_orders(self) -> list[dict]:
        natives = [n.as_dict() for n in NativeOrder.objects.filter(store=self.store).order_by("entity_id")]
        return [n for n in natives if n["state"] == "new"]

    def xero_id(self, entity, source_id) -> str:
        with tenant_scope(self.tenant):
            return CrossReference.objects.get(entity=entity, source_id=str(source_id)).xero_id

    def get(self, path) -> dict:
        with tenant_scope(self.tenant):
            client = xero_client(self.xero)
            try:
                from connections.providers.xero.accounting import parse

                return parse(client.get(path))
            finally:
                client.close()

    def invoice(self, order_id) -> dict:
        return self.get(f"Invoices/{self.xero_id('invoice', order_id)}")["Invoices"][0]

    def jobs(self, **filters):
        with tenant_scope(self.tenant):
            return list(SyncJob.objects.filter(**filters))

    def xero_state(self) -> dict:
        """Every document in this tenant's Xero organisation with its status and money (what the others must not
        change)."""
        state = {}
        for collection in ("Invoices", "CreditNotes", "Payments"):
            for record in self.get(collection).get(collection, []):
                key = record.get("InvoiceID") or record.get("CreditNoteID") or record.get("PaymentID")
                state[key] = (
                    record.get("Status"),
                    record.get("Total") or record.get("Amount"),
                    record.get("AmountDue"),
                )
        return state


@pytest.fixture
def shops(world):
    mine = Shop(world.tenant_a1, "lifea", orders=30)
    other = Shop(world.tenant_b1, "lifeb", orders=3)
    before = other.xero_state()
    jobs_before = {(job.pk, job.state) for job in other.jobs()}
    assert before and jobs_before
    yield mine, other
    # Nothing one tenant's orders did reached the other tenant's Xero organisation or jobs.
    assert other.xero_state() == before
    assert {(job.pk, job.state) for job in other.jobs()} == jobs_before


def money(value) -> Decimal:
    return quantize(Decimal(str(value)))


def _a_partial_payment_then_the_rest_settle_the_invoice(mine):
    order = _two_line_order(mine)
    assert mine.invoice(order["entity_id"])["Status"] == "AUTHORISED"
    parents = [i for i in order["items"] if not i.get("parent_item_id")]
    magento.invoice_create(
        store=mine.store,
        order_id=order["entity_id"],
        items=[{"order_item_id": parents[0]["item_id"], "qty": parents[0]["qty_ordered"]}],
    )
    mine.sync()
    paid = money(mine.native(order["entity_id"])["total_paid"])
    invoice = mine.invoice(order["entity_id"])
    assert 0 < paid < money(order["grand_total"])
    assert money(invoice["AmountPaid"]) == paid and invoice["Status"] == "AUTHORISED"

    magento.invoice_create(store=mine.store, order_id=order["entity_id"])
    mine.sync()
    invoice = mine.invoice(order["entity_id"])
    assert invoice["Status"] == "PAID" and money(invoice["AmountPaid"]) == money(order["grand_total"])


def _two_line_order(shop) -> dict:
    for order in shop.new_orders():
        if len([i for i in order["items"] if not i.get("parent_item_id")]) >= 2:
            return order
    raise AssertionError("the generated store has no open order with two lines left")


def _edited(order: dict):
    """The canonical order with its last product line removed, totals following (an edit in the source)."""
    canonical = normalize_order(order)
    line = [x for x in canonical.lines if x.kind == LineKind.PRODUCT][-1]
    return replace(
        canonical,
        lines=tuple(x for x in canonical.lines if x is not line),
        subtotal=canonical.subtotal - line.total,
        tax_total=canonical.tax_total - line.tax,
        grand_total=canonical.grand_total - line.total - line.tax,
    )


def _stage_and_drain(shop, record, entity="order"):
    with tenant_scope(shop.tenant):
        keys = [j.idempotency_key for j in jobs_stage(source_connection=shop.source, entity=entity, record=record)]
        drain_run(xero_connection=shop.xero, transport=TRANSPORT)
        return list(SyncJob.objects.filter(idempotency_key__in=keys).order_by("id"))


def _an_edit_updates_the_invoice_until_a_payment_then_needs_attention_with_the_reason(mine):
    order = _two_line_order(mine)
    # A change of status alone is not an edit: nothing is staged.
    assert _stage_and_drain(mine, replace(normalize_order(order), status="complete")) == []
    edited = _edited(order)
    (job,) = _stage_and_drain(mine, edited)
    invoice = mine.invoice(order["entity_id"])
    assert money(invoice["Total"]) == edited.grand_total < money(order["grand_total"])

    first = next(i for i in order["items"] if not i.get("parent_item_id"))
    magento.invoice_create(  # the customer pays for the first line
        store=mine.store, order_id=order["entity_id"], items=[{"order_item_id": first["item_id"], "qty": 1}]
    )
    mine.sync()
    before = mine.invoice(order["entity_id"])
    assert money(before["AmountPaid"]) > 0
    again = replace(edited, lines=edited.lines[:-1] + (edited.lines[-1],), number=edited.number, extra={"edit": 2})
    (held,) = _stage_and_drain(mine, again)
    (held,) = mine.jobs(pk=held.pk)
    assert held.state == State.NEEDS_ATTENTION
    # Xero refuses the change (a paid invoice); the cause says so in plain words and what to do.
    assert held.cause.startswith(f"Order {order['increment_id']} was edited")
    assert "does not allow changing" in held.cause
    assert held.cause.endswith("Refund or credit the difference in the source, or edit in Xero.")
    assert mine.invoice(order["entity_id"]) == before  # Xero's invoice untouched


def _edits_are_left_alone_when_the_posting_policy_says_so_and_audited_as_skipped(mine):
    order = _two_line_order(mine)
    with tenant_scope(mine.tenant):
        PostingPolicy.objects.update_or_create(
            tenant=mine.tenant, source_connection=mine.source, defaults={"on_edit": PostingPolicy.OnEdit.IGNORE}
        )
    before = mine.invoice(order["entity_id"])
    assert _stage_and_drain(mine, _edited(order)) == []
    assert mine.invoice(order["entity_id"]) == before
    with tenant_scope(mine.tenant):
        skipped = AuditEntry.objects.get(source_id=str(order["entity_id"]), outcome=AuditEntry.Outcome.SKIPPED)
    assert (
        skipped.detail == f"Order {order['increment_id']} was edited; the posting policy leaves its Xero invoice alone."
    )


def _a_cancelled_order_voids_its_invoice_unless_paid(mine):
    first, second = mine.new_orders()[:2]
    assert magento.order_cancel(store=mine.store, order_id=first["entity_id"])
    magento.invoice_create(store=mine.store, order_id=second["entity_id"])
    mine.sync()
    assert mine.invoice(first["entity_id"])["Status"] == "VOIDED"
    assert mine.invoice(second["entity_id"])["Status"] == "PAID"

    # The paid order is cancelled in the source (a partner system can): Xero cannot void it, a person decides.
    (job,) = [
        j for j in _stage_and_drain(mine, replace(normalize_order(second), is_cancelled=True)) if j.entity == "invoice"
    ]
    (job,) = mine.jobs(pk=job.pk)
    assert job.state == State.NEEDS_ATTENTION and job.cause.startswith(
        f"Order {second['increment_id']} was cancelled after a payment was applied in Xero; Xero cannot void"
    )
    assert mine.invoice(second["entity_id"])["Status"] == "PAID"


def _a_cancelled_order_leaves_its_invoice_when_the_policy_says_so(mine):
    order = mine.new_orders()[0]
    with tenant_scope(mine.tenant):
        PostingPolicy.objects.update_or_create(
            tenant=mine.tenant, source_connection=mine.source, defaults={"on_cancel": PostingPolicy.OnCancel.IGNORE}
        )
    assert magento.order_cancel(store=mine.store, order_id=order["entity_id"])
    mine.sync()
    assert mine.invoice(order["entity_id"])["Status"] == "AUTHORISED"
    with tenant_scope(mine.tenant):
        assert AuditEntry.objects.filter(
            source_id=str(order["entity_id"]), outcome="skipped", operation=SyncJob.Operation.INVOICE_VOID
        ).exists()


def _a_refund_of_a_paid_order_is_a_credit_note_refunded_with_the_other_payments(mine):
    order = _two_line_order(mine)
    line = next(i for i in order["items"] if not i.get("parent_item_id"))
    magento.invoice_create(store=mine.store, order_id=order["entity_id"])
    memo_id = magento.creditmemo_create(
        store=mine.store,
        order_id=order["entity_id"],
        items=[{"order_item_id": line["item_id"], "qty": 1}],
        arguments={"shipping_amount": 0, "adjustment_negative": "1.50"},  # a restocking fee
    )
    mine.sync()
    refunded = money(mine.native(order["entity_id"])["total_refunded"])
    note = mine.get(f"CreditNotes/{mine.xero_id('credit_note', memo_id)}")["CreditNotes"][0]
    assert money(note["Total"]) == refunded > 0
    assert note["Status"] == "PAID" and money(note["RemainingCredit"]) == 0  # the money went back
    assert any(
        li["Description"] == "Refund fee" and money(li["LineAmount"]) == Decimal("-1.50") for li in note["LineItems"]
    )
    invoice = mine.invoice(order["entity_id"])
    assert invoice["Status"] == "PAID" and money(invoice["AmountCredited"]) == 0
    (refund_payment,) = mine.jobs(source_id=f"refund:{memo_id}")
    assert refund_payment.operation == SyncJob.Operation.PAYMENT_CREATE and refund_payment.state == State.DONE


def _a_refund_of_a_partly_paid_order_is_allocated_up_to_what_is_due(mine):
    order = _two_line_order(mine)
    first, second = [i for i in order["items"] if not i.get("parent_item_id")][:2]
    magento.invoice_create(
        store=mine.store,
        order_id=order["entity_id"],
        items=[{"order_item_id": first["item_id"], "qty": first["qty_ordered"]}],
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
    due_before = money(order["grand_total"]) - paid
    allocated = min(refunded, due_before)
    invoice = mine.invoice(order["entity_id"])
    assert money(invoice["AmountCredited"]) == allocated > 0
    assert money(invoice["AmountDue"]) == due_before - allocated
    note = mine.get(f"CreditNotes/{mine.xero_id('credit_note', memo_id)}")["CreditNotes"][0]
    assert money(note["RemainingCredit"]) == refunded - allocated  # the remainder stays as credit


def _a_refund_whose_fee_exceeds_it_is_held_with_the_exact_cause(mine):
    order = mine.new_orders()[0]
    line = next(i for i in order["items"] if not i.get("parent_item_id"))
    magento.invoice_create(store=mine.store, order_id=order["entity_id"])
    fee = money(line["price"]) + 10
    memo_id = magento.creditmemo_create(
        store=mine.store,
        order_id=order["entity_id"],
        items=[{"order_item_id": line["item_id"], "qty": 1}],
        arguments={"shipping_amount": 0, "adjustment_negative": str(fee)},
    )
    mine.sync()
    (note,) = mine.jobs(entity="credit_note", source_id=str(memo_id))
    assert note.state == State.NEEDS_ATTENTION
    assert "Xero does not accept a negative credit note" in note.cause and f"fee of {fee}" in note.cause
    assert mine.jobs(source_id=f"refund:{memo_id}") == []  # no money goes back for a negative refund
    assert mine.invoice(order["entity_id"])["Status"] == "PAID"


def _a_payment_arriving_before_its_invoice_waits_for_it(mine):
    generate(account=mine.code, seed=99, customers=2, orders=1, currency="GBP")
    (order,) = [o for o in mine.new_orders() if not mine.jobs(entity="invoice", source_id=str(o["entity_id"]))]
    invoice_id = magento.invoice_create(store=mine.store, order_id=order["entity_id"])
    from connections.providers.magento.normalize import normalize_invoice_payment
    from sandbox.magento.models import Invoice as NativeInvoice

    native = NativeInvoice.objects.get(store=mine.store, entity_id=invoice_id).as_dict()
    payment = normalize_invoice_payment({**native, "_context": {"payment_method": order["payment"]["method"]}})
    (job,) = _stage_and_drain(mine, payment, entity="payment")
    (job,) = mine.jobs(pk=job.pk)
    assert job.state == State.PENDING and job.cause == f"Waiting for invoice {order['entity_id']} to reach Xero."
    mine.sync()  # the order arrives
    invoice = mine.invoice(order["entity_id"])
    assert invoice["Status"] == "PAID" and money(invoice["AmountPaid"]) == money(order["grand_total"])


def test_payments_partial_early_and_refunds_paid_partly_paid_or_negative(shops):
    mine, _ = shops
    _a_partial_payment_then_the_rest_settle_the_invoice(mine)
    _a_refund_of_a_paid_order_is_a_credit_note_refunded_with_the_other_payments(mine)
    _a_refund_of_a_partly_paid_order_is_allocated_up_to_what_is_due(mine)
    _a_refund_whose_fee_exceeds_it_is_held_with_the_exact_cause(mine)
    _a_payment_arriving_before_its_invoice_waits_for_it(mine)


def test_edits_and_cancellations_of_invoiced_orders_as_the_posting_policy_says(shops):
    mine, _ = shops
    _an_edit_updates_the_invoice_until_a_payment_then_needs_attention_with_the_reason(mine)
    _a_cancelled_order_voids_its_invoice_unless_paid(mine)
    # The tenant changes its posting policy: edits and cancellations leave Xero's invoices alone from now on.
    _edits_are_left_alone_when_the_posting_policy_says_so_and_audited_as_skipped(mine)
    _a_cancelled_order_leaves_its_invoice_when_the_policy_says_so(mine)
