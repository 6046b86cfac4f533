"""Acting on mismatches: resync through the real engine against the sandboxes, auto-heal, accept, and earlier
acceptances carried into later runs."""

from decimal import Decimal

import pytest

from connections.providers.xero.reference import xero_reference_refresh
from mappings.suggestions import suggestions_accept, suggestions_refresh
from reconciliation.models import Mismatch
from reconciliation.services.actions import (
    mismatches_accept,
    mismatches_auto_heal,
    mismatches_carry_accepted,
    mismatches_resync,
)
from sandbox.magento.generator import generate
from sandbox.magento.models import Order as NativeOrder
from sandbox.magento.services import store_create
from sandbox.transport import SandboxTransport
from sandbox.xero.models.accounting import Invoice as XeroInvoice
from sync.models import AuditEntry, CrossReference, InboundEvent, SyncJob
from sync.services.drain import drain_run
from sync.services.operations import needs_attention_recheck
from sync.services.polling import source_poll
from sync.services.processing import inbound_events_process_pending
from tenants.models import ActivityEntry
from tenants.scoping import tenant_scope
from tests.factories import ConnectionFactory, MismatchFactory, ReconciliationRunFactory, SyncJobFactory
from tests.reconciliation.surfaces import run_with_findings
from tests.sandbox_world import magento_connection_for, xero_client, xero_connection_for

pytestmark = pytest.mark.django_db
TRANSPORT = SandboxTransport()
Kind, State = Mismatch.Kind, Mismatch.State


class Shop:
    """A tenant whose Magento orders went through the engine into Xero, except one order whose webhook was lost."""

    def __init__(self, tenant, code):
        self.tenant = tenant
        with tenant_scope(tenant):
            self.xero, self.org = xero_connection_for(tenant, name=f"Org {code}", country="AU")
            xero_reference_refresh(connection=self.xero, client=xero_client(self.xero))
            store = store_create(code=code, currency="AUD")
            generate(account=code, seed=3, customers=4, orders=8, currency="AUD")
            self.source = magento_connection_for(tenant, store)
            source_poll(connection=self.source, transport=TRANSPORT)
            lost = InboundEvent.objects.filter(kind="order").order_by("id").first()
            self.lost_order = str(lost.body["entity_id"])
            InboundEvent.objects.filter(pk=lost.pk).update(status=InboundEvent.Status.REJECTED)
            inbound_events_process_pending(transport=TRANSPORT)
            suggestions_accept(suggestions=suggestions_refresh(source_connection=self.source), actor="test")
            needs_attention_recheck(xero_connection=self.xero)
            self.drain()
            self.run = ReconciliationRunFactory(tenant=tenant, xero_connection=self.xero)

    def drain(self):
        with tenant_scope(self.tenant):
            for _ in range(5):
                drain_run(xero_connection=self.xero, transport=TRANSPORT)
                if not SyncJob.objects.filter(state=SyncJob.State.PENDING).exists():
                    return

    def mismatch(self, kind, source_id, **values):
        with tenant_scope(self.tenant):
            return MismatchFactory(
                tenant=self.tenant,
                run=self.run,
                kind=kind,
                source_connection=self.source,
                source_id=source_id,
                **values,
            )

    def invoice_in_xero(self, order_id) -> XeroInvoice | None:
        with tenant_scope(self.tenant):
            xref = CrossReference.objects.filter(entity="invoice", source_id=order_id).first()
        return XeroInvoice.objects.filter(pk=xref.xero_id).first() if xref else None

    def grand_total(self, order_id) -> Decimal:
        order = NativeOrder.objects.get(store__code=self.source.display_name[5:], entity_id=int(order_id))
        return Decimal(order.grand_total).quantize(Decimal("0.01"))


def test_resync_sends_a_missing_record_and_restores_one_edited_in_xero(world):
    shop = Shop(world.tenant_a1, "recona")
    other = Shop(world.tenant_b1, "reconb")
    assert shop.invoice_in_xero(shop.lost_order) is None
    with tenant_scope(shop.tenant):
        # Xero refuses to change a paid invoice (the resync would wait in "needs attention" with that reason).
        paid = SyncJob.objects.exclude(depends_on_entity="").filter(entity__in=("payment", "credit_note"))
        synced = (
            CrossReference.objects.filter(entity="invoice")
            .exclude(source_id__in=[shop.lost_order, *paid.values_list("depends_on_source_id", flat=True)])
            .first()
            .source_id
        )
    edited = shop.invoice_in_xero(synced)
    # Someone changes the invoice in Xero: one line's amount goes up by 5.00.
    line = edited.lines.order_by("position").first()
    line.unit_amount, line.line_amount = line.unit_amount + 5, line.line_amount + 5
    line.save(update_fields=["unit_amount", "line_amount"])
    XeroInvoice.objects.filter(pk=edited.pk).update(total=edited.total + 5, sub_total=edited.sub_total + 5)
    missing = shop.mismatch(Kind.MISSING_IN_XERO, shop.lost_order, xero_id="", difference=None)
    differs = shop.mismatch(Kind.EDITED_IN_XERO, synced, xero_id=str(edited.pk))
    only_in_xero = shop.mismatch(Kind.MISSING_IN_SOURCE, "", source_label="", xero_label="INV-9999")

    with tenant_scope(shop.tenant):
        result = mismatches_resync(
            run=shop.run,
            ids=[missing.pk, differs.pk, only_in_xero.pk],
            actor="owner-a@example.com",
            user=world.owner_a,
            transport=TRANSPORT,
        )
        assert result.done == 2
        assert result.skipped == {
            only_in_xero.pk: "This record is only in Xero: there is nothing in the source to send again."
        }
        # The lost order was read from Magento and staged like any change; the edited one's job is sent again.
        assert SyncJob.objects.filter(entity="invoice", source_id=shop.lost_order, state="pending").exists()
        replayed = AuditEntry.objects.get(outcome=AuditEntry.Outcome.REPLAYED, source_id=synced)
        assert replayed.detail == "replayed by owner-a@example.com (was Done)"
        states = dict(Mismatch.objects.filter(run=shop.run).values_list("id", "state"))
        assert states == {missing.pk: "resync_requested", differs.pk: "resync_requested", only_in_xero.pk: "open"}
        assert ActivityEntry.objects.filter(action="reconciliation.mismatch_resynced").count() == 2
    shop.drain()

    sent = shop.invoice_in_xero(shop.lost_order)
    assert sent is not None and sent.total == shop.grand_total(shop.lost_order)
    edited.refresh_from_db()
    assert edited.total == shop.grand_total(synced)
    # The other tenant's lost order was never touched.
    assert other.invoice_in_xero(other.lost_order) is None


def test_auto_heal_resyncs_only_what_is_missing_in_xero_and_marks_it_healed(world):
    shop = Shop(world.tenant_a1, "heala")
    with tenant_scope(shop.tenant):
        synced = CrossReference.objects.filter(entity="invoice").first().source_id
    missing = shop.mismatch(Kind.MISSING_IN_XERO, shop.lost_order, xero_id="", difference=None)
    differs = shop.mismatch(Kind.AMOUNT_DIFFERS, synced)
    with tenant_scope(shop.tenant):
        result = mismatches_auto_heal(run=shop.run, transport=TRANSPORT)
        assert result.done == 1
        missing.refresh_from_db()
        differs.refresh_from_db()
        assert missing.state == State.HEALED and "auto-heal" in missing.note
        assert differs.state == State.OPEN
        assert ActivityEntry.objects.get(action="reconciliation.mismatch_healed").actor == "system (auto-heal)"
    shop.drain()
    assert shop.invoice_in_xero(shop.lost_order).total == shop.grand_total(shop.lost_order)


def test_a_payment_xero_still_has_is_not_sent_twice(world):
    with tenant_scope(world.tenant_a1):
        source = ConnectionFactory(tenant=world.tenant_a1, provider="rest", display_name="Partner")
        run = ReconciliationRunFactory(tenant=world.tenant_a1)
        job = SyncJobFactory(
            tenant=world.tenant_a1,
            source_connection=source,
            operation=SyncJob.Operation.PAYMENT_CREATE,
            entity="payment",
            source_id="pay-1",
            state=SyncJob.State.DONE,
        )
        mismatch = MismatchFactory(
            tenant=world.tenant_a1, run=run, entity="payment", source_connection=source, source_id=job.source_id
        )
        result = mismatches_resync(run=run, ids=[mismatch.pk], actor="owner-a@example.com")
        assert result.done == 0
        assert "duplicate" in result.skipped[mismatch.pk]
        job.refresh_from_db()
        assert job.state == SyncJob.State.DONE


def test_an_accepted_difference_stays_accepted_in_later_runs_until_its_values_change(world):
    first, amount, missing, _ = run_with_findings(world.tenant_a1)
    run_with_findings(world.tenant_b1)
    with tenant_scope(world.tenant_a1):
        mismatches_accept(run=first, ids=[amount.pk], note="Discount agreed by phone", actor="owner-a@example.com")
        later = ReconciliationRunFactory(tenant=world.tenant_a1)
        same = MismatchFactory(tenant=world.tenant_a1, run=later, source_id=amount.source_id, xero_id=amount.xero_id)
        changed = MismatchFactory(
            tenant=world.tenant_a1,
            run=later,
            source_id=amount.source_id,
            xero_id=amount.xero_id,
            kind=Kind.STATUS_DIFFERS,
        )
        still_missing = MismatchFactory(
            tenant=world.tenant_a1, run=later, kind=Kind.MISSING_IN_XERO, source_id=missing.source_id, xero_id=""
        )
        moved = MismatchFactory(
            tenant=world.tenant_a1, run=later, source_id=amount.source_id, xero_id=amount.xero_id, xero_value="90.00"
        )
        assert mismatches_carry_accepted(run=later) == 1
        states = dict(Mismatch.objects.filter(run=later).values_list("id", "state"))
        assert states == {same.pk: "accepted", changed.pk: "open", still_missing.pk: "open", moved.pk: "open"}
        same.refresh_from_db()
        assert same.note == "Discount agreed by phone"
    with tenant_scope(world.tenant_b1):
        assert not Mismatch.objects.filter(state=State.ACCEPTED).exists()


def test_the_report_page_accepts_and_resyncs_selected_mismatches(world, client):
    run, amount, missing, rounding = run_with_findings(world.tenant_a1)
    url = f"/reconciliation/tenants/{world.tenant_a1.pk}/runs/{run.pk}/act/"
    client.force_login(world.member_a)
    refused = client.post(url, {"action": "accept", "ids": [amount.pk], "note": "fine"}, follow=True)
    assert "Only agency owners and admins" in refused.content.decode()

    client.force_login(world.owner_a)
    no_note = client.post(url, {"action": "accept", "ids": [amount.pk], "note": " "}, follow=True)
    assert "Say why these differences are accepted." in no_note.content.decode()
    accepted = client.post(
        url,
        {"action": "accept", "ids": [amount.pk], "note": "Known", "query": "kind=amount_differs&next=//evil.example"},
        follow=True,
    )
    assert accepted.redirect_chain[-1][0].endswith("?kind=amount_differs")
    assert "1 mismatch accepted." in accepted.content.decode()
    # The factory's mismatch has no source connection: resync says why instead of pretending.
    resync = client.post(url, {"action": "resync", "ids": [missing.pk]}, follow=True)
    assert "0 records will be sent to Xero again." in resync.content.decode()
    assert "nothing in the source to send again" in resync.content.decode()
    with tenant_scope(world.tenant_a1):
        assert Mismatch.objects.get(pk=amount.pk).state == State.ACCEPTED
        assert Mismatch.objects.get(pk=missing.pk).state == State.OPEN
