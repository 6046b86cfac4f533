"""Reconciliation runs against a store synced into Xero by the real engine, one discrepancy at a time.

Each class test reconciles the synced world, makes one discrepancy in the sandbox (Xero's own tables, or the
store's), reconciles again and expects exactly one new finding, of that class, with both sides' values.
"""

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from connections.models import Connection
from core.errors import ApplicationError
from mappings.models import PostingPolicy
from reconciliation.models import Mismatch, ReconciliationRun
from reconciliation.services import reconciliation_run
from sandbox.xero.models import Contact as XeroContact
from sandbox.xero.models import CreditNote as XeroCreditNote
from sandbox.xero.models import Invoice as XeroInvoice
from sandbox.xero.models import LineItem as XeroLine
from sync.models import CrossReference
from tenants.scoping import tenant_scope
from tests.reconciliation.helpers import TRANSPORT, synced_shop, whole_history

pytestmark = pytest.mark.django_db
Kind = Mismatch.Kind


def reconcile(shop) -> ReconciliationRun:
    start, end = whole_history()
    return reconciliation_run(
        tenant=shop.tenant, period_start=start, period_end=end, trigger="manual", transport=TRANSPORT
    )


def findings(shop, run) -> dict[tuple, Mismatch]:
    with tenant_scope(shop.tenant):
        return {(m.kind, m.entity, m.source_id or m.xero_id): m for m in Mismatch.objects.filter(run=run)}


def open_invoice(shop) -> XeroInvoice:
    """A synced invoice nobody has paid or credited, so one change touches nothing else."""
    with tenant_scope(shop.tenant):
        ours = set(CrossReference.objects.filter(entity="invoice").values_list("xero_id", flat=True))
    for invoice in XeroInvoice.objects.filter(org__tenant_id=shop.tenant_id, status="AUTHORISED").order_by("id"):
        if str(invoice.id) in ours and not invoice.payments.exists() and not invoice.allocations.exists():
            return invoice
    raise AssertionError("the generated store has no unpaid invoice")


def order_of(shop, invoice) -> str:
    with tenant_scope(shop.tenant):
        return CrossReference.objects.get(entity="invoice", xero_id=str(invoice.id)).source_id


def copy_invoice(invoice: XeroInvoice, **changes) -> XeroInvoice:
    lines = list(invoice.lines.all())
    invoice.pk = uuid.uuid4()
    for field, value in changes.items():
        setattr(invoice, field, value)
    invoice.save()
    for line in lines:
        line.pk, line.invoice = uuid.uuid4(), invoice
        line.save()
    return invoice


@pytest.fixture
def shop(world):
    return synced_shop(world.tenant_a1, code="recon-a", orders=30, customers=12)


def test_a_synced_store_reconciles_clean_apart_from_credit_left_unallocated(shop):
    run = reconcile(shop)

    assert run.status == ReconciliationRun.Status.DONE, run.error
    found = findings(shop, run)
    credit_notes = XeroCreditNote.objects.filter(org__tenant_id=shop.tenant_id)
    assert credit_notes.exists()
    # The sync creates refunds' credit notes but does not allocate them: that is the only thing left to do.
    assert set(found) == {
        (Kind.UNALLOCATED_CREDIT, "credit_note", key.source_id)
        for key in _credit_xrefs(shop)
        if credit_notes.get(id=key.xero_id).remaining_credit > 0
    }
    invoices = run.summary["invoice"]
    assert invoices["compared"] == invoices["matched"] > 0
    assert invoices["source_total"] == invoices["xero_total"]
    assert Decimal(invoices["source_total"]) > 0
    assert run.summary["contact"]["compared"] == run.summary["contact"]["matched"] > 0
    assert run.summary["payment"]["compared"] == run.summary["payment"]["matched"] > 0


def _credit_xrefs(shop):
    with tenant_scope(shop.tenant):
        return list(CrossReference.objects.filter(entity="credit_note"))


def test_a_run_reads_each_xero_collection_once_a_thousand_at_a_time(shop):
    run = reconcile(shop)

    # Invoices, credit notes, payments and contacts: one page each for a small organisation, nothing per record.
    assert run.xero_calls == 4


def _one_new(shop, before, after) -> Mismatch:
    new = {key: m for key, m in findings(shop, after).items() if key not in findings(shop, before)}
    assert len(new) == 1, [(m.kind, m.entity, m.detail) for m in new.values()]
    return next(iter(new.values()))


def test_missing_in_xero(shop):
    before = reconcile(shop)
    invoice = open_invoice(shop)
    order_id = order_of(shop, invoice)
    total, invoice_id = invoice.total, str(invoice.id)
    invoice.lines.all().delete()
    invoice.delete()

    found = _one_new(shop, before, reconcile(shop))

    assert (found.kind, found.entity, found.source_id) == (Kind.MISSING_IN_XERO, "invoice", order_id)
    assert found.source_value == str(total)
    assert found.xero_id == invoice_id  # the invoice we had synced
    assert found.suggested_action


def test_missing_in_source(shop):
    before = reconcile(shop)
    manual = copy_invoice(open_invoice(shop), invoice_number="MANUAL-1", reference="Consulting")

    found = _one_new(shop, before, reconcile(shop))

    assert (found.kind, found.entity, found.xero_id) == (Kind.MISSING_IN_SOURCE, "invoice", str(manual.id))
    assert found.xero_value == str(manual.total)
    assert found.xero_label == "MANUAL-1"


def test_amount_differs(shop):
    before = reconcile(shop)
    invoice = open_invoice(shop)
    source_total = invoice.total
    XeroInvoice.objects.filter(pk=invoice.pk).update(total=invoice.total + Decimal("5.25"))

    found = _one_new(shop, before, reconcile(shop))

    assert (found.kind, found.source_id) == (Kind.AMOUNT_DIFFERS, order_of(shop, invoice))
    assert (found.source_value, found.xero_value) == (str(source_total), str(source_total + Decimal("5.25")))
    assert found.difference == Decimal("5.25")


def test_tax_differs(shop):
    before = reconcile(shop)
    invoice = open_invoice(shop)
    XeroInvoice.objects.filter(pk=invoice.pk).update(
        total_tax=invoice.total_tax + Decimal("1.00"), sub_total=invoice.sub_total - Decimal("1.00")
    )

    found = _one_new(shop, before, reconcile(shop))

    assert (found.kind, found.source_id) == (Kind.TAX_DIFFERS, order_of(shop, invoice))
    assert found.xero_value == str(invoice.total_tax + Decimal("1.00"))
    assert found.difference == Decimal("1.00")


def test_status_differs_paid_in_xero_only(shop):
    before = reconcile(shop)
    invoice = open_invoice(shop)
    XeroInvoice.objects.filter(pk=invoice.pk).update(status="PAID", amount_paid=invoice.total)

    found = _one_new(shop, before, reconcile(shop))

    assert (found.kind, found.source_id) == (Kind.STATUS_DIFFERS, order_of(shop, invoice))
    assert found.xero_value.startswith("PAID")
    assert found.source_value == "paid 0.00"


def test_contact_differs(shop):
    before = reconcile(shop)
    invoice = open_invoice(shop)
    other = XeroContact.objects.filter(org__tenant_id=shop.tenant_id).exclude(pk=invoice.contact_id).first()
    XeroInvoice.objects.filter(pk=invoice.pk).update(contact=other)

    found = _one_new(shop, before, reconcile(shop))

    assert (found.kind, found.source_id) == (Kind.CONTACT_DIFFERS, order_of(shop, invoice))
    assert found.xero_value == other.name


def test_duplicate_in_xero(shop):
    before = reconcile(shop)
    invoice = open_invoice(shop)
    twin = copy_invoice(XeroInvoice.objects.get(pk=invoice.pk), invoice_number=f"{invoice.invoice_number}-2")

    found = _one_new(shop, before, reconcile(shop))

    assert (found.kind, found.source_id) == (Kind.DUPLICATE_IN_XERO, order_of(shop, invoice))
    assert twin.invoice_number in found.xero_value and invoice.invoice_number in found.xero_value


def test_edited_in_xero_after_sync(shop):
    before = reconcile(shop)
    invoice = open_invoice(shop)
    XeroInvoice.objects.filter(pk=invoice.pk).update(
        date=invoice.date - timedelta(days=1), updated_at=timezone.now() + timedelta(minutes=1)
    )

    found = _one_new(shop, before, reconcile(shop))

    assert (found.kind, found.source_id) == (Kind.EDITED_IN_XERO, order_of(shop, invoice))
    assert str(invoice.date - timedelta(days=1)) in found.xero_value
    assert str(invoice.date) in found.source_value


def test_voided_in_xero(shop):
    before = reconcile(shop)
    invoice = open_invoice(shop)
    XeroInvoice.objects.filter(pk=invoice.pk).update(status="VOIDED")

    found = _one_new(shop, before, reconcile(shop))

    assert (found.kind, found.source_id, found.xero_value) == (
        Kind.VOIDED_IN_XERO,
        order_of(shop, invoice),
        "VOIDED",
    )


def test_unallocated_credit(shop):
    # The sync settles every refund (allocated to its invoice, or refunded in cash when the order was paid), so
    # the credit note starts fully settled and then has 10.00 of its allocation taken away in Xero.
    settled = ("AUTHORISED", "PAID")
    credit_note = XeroCreditNote.objects.filter(org__tenant_id=shop.tenant_id, status__in=settled).first()
    XeroCreditNote.objects.filter(pk=credit_note.pk).update(
        status="AUTHORISED", amount_paid=0, amount_credited=credit_note.total
    )
    before = reconcile(shop)
    XeroCreditNote.objects.filter(pk=credit_note.pk).update(amount_credited=credit_note.total - Decimal("10.00"))

    found = _one_new(shop, before, reconcile(shop))

    assert (found.kind, found.entity, found.xero_id) == (Kind.UNALLOCATED_CREDIT, "credit_note", str(credit_note.id))
    assert found.difference == Decimal("10.00")


def test_rounding_adjustment_is_informational(shop):
    with tenant_scope(shop.tenant):
        policy = PostingPolicy.objects.get(source_connection=shop.source)
    before = reconcile(shop)
    invoice = open_invoice(shop)
    XeroLine.objects.create(
        invoice=invoice,
        position=99,
        description="Rounding adjustment",
        quantity=1,
        unit_amount=Decimal("0.01"),
        line_amount=Decimal("0.01"),
        account_code=policy.rounding_account_code,
    )

    found = _one_new(shop, before, reconcile(shop))

    assert policy.rounding_account_code
    assert (found.kind, found.source_id, found.difference) == (
        Kind.ROUNDING_ADJUSTMENT,
        order_of(shop, invoice),
        Decimal("0.01"),
    )
    assert Kind.ROUNDING_ADJUSTMENT in Mismatch.INFORMATIONAL


def test_currency_differs(shop):
    before = reconcile(shop)
    invoice = open_invoice(shop)
    XeroInvoice.objects.filter(pk=invoice.pk).update(currency_code="USD" if invoice.currency_code != "USD" else "EUR")

    found = _one_new(shop, before, reconcile(shop))

    assert (found.kind, found.source_id) == (Kind.CURRENCY_DIFFERS, order_of(shop, invoice))
    assert (found.source_value, found.xero_value) == (
        invoice.currency_code,
        "USD" if invoice.currency_code != "USD" else "EUR",
    )


def test_another_tenants_records_never_appear(world, shop):
    other = synced_shop(world.tenant_b1, code="recon-b", orders=12, customers=5, seed=9)
    # B's Xero has a discrepancy of its own; A's run must not see it, nor B's records.
    XeroInvoice.objects.filter(org__tenant_id=other.tenant_id).update(status="VOIDED")

    run = reconcile(shop)

    with tenant_scope(other.tenant):
        other_orders = set(CrossReference.objects.values_list("source_id", "xero_id"))
        assert not ReconciliationRun.objects.exists()
        assert not Mismatch.objects.exists()
    other_ids = {x for pair in other_orders for x in pair}
    with tenant_scope(shop.tenant):
        mine = Mismatch.objects.filter(run=run)
        assert not mine.exclude(kind=Kind.UNALLOCATED_CREDIT).exists()
        assert not mine.filter(xero_id__in=other_ids).exists()
        assert set(mine.values_list("source_connection", flat=True)) <= {shop.source.pk}


def test_a_disconnected_xero_fails_the_run_plainly(shop):
    with tenant_scope(shop.tenant):
        Connection.objects.filter(pk=shop.xero.pk).update(status=Connection.Status.NEEDS_REAUTH)

    run = reconcile(shop)

    assert run.status == ReconciliationRun.Status.FAILED
    assert "reconnect" in run.error
    with tenant_scope(shop.tenant):
        assert not Mismatch.objects.filter(run=run).exists()


def test_a_reversed_period_is_refused(shop):
    start, end = whole_history()
    with pytest.raises(ApplicationError) as refused:
        reconciliation_run(tenant=shop.tenant, period_start=end, period_end=start, trigger="manual")
    assert refused.value.code == "invalid_period"


def test_items_are_compared_when_the_policy_includes_them(shop):
    from reconciliation.models import ReconciliationPolicy
    from sandbox.xero.models import Item as XeroItem

    with tenant_scope(shop.tenant):
        ReconciliationPolicy.objects.update_or_create(tenant=shop.tenant, defaults={"include_items": True})
        synced = CrossReference.objects.filter(entity="item").first()
    assert synced is not None
    before = reconcile(shop)
    assert before.summary["item"]["compared"] == before.summary["item"]["matched"] > 0
    assert before.xero_calls == 5  # the four collections and the (unpaged) items
    XeroItem.objects.filter(pk=synced.xero_id).delete()

    found = _one_new(shop, before, reconcile(shop))

    assert (found.kind, found.entity, found.source_id) == (Kind.MISSING_IN_XERO, "item", synced.source_id)
