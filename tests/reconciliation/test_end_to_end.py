"""From a real comparison to what people see and do: a synced store, an invoice deleted in Xero and one changed
there, the engine's run, auto-heal, the email, the report, an acceptance, and the next run."""

from html import unescape

import pytest
from django.core import mail

from connections.models import Connection
from reconciliation.models import Mismatch, ReconciliationRun
from reconciliation.services.requests import reconciliation_perform
from sandbox.xero.models import Invoice as XeroInvoice
from sync.models import Alert, CrossReference, SyncJob
from sync.services.drain import drain_run
from tenants.scoping import tenant_scope
from tests.factories import ReconciliationPolicyFactory, ReconciliationRunFactory
from tests.reconciliation.helpers import TRANSPORT, synced_shop, whole_history

pytestmark = pytest.mark.django_db
Kind, State = Mismatch.Kind, Mismatch.State


def _open_invoices(shop) -> list[XeroInvoice]:
    """Synced invoices nobody has paid or credited: changing one touches nothing else."""
    with tenant_scope(shop.tenant):
        ours = dict(CrossReference.objects.filter(entity="invoice").values_list("xero_id", "source_id"))
    invoices = XeroInvoice.objects.filter(org__tenant_id=shop.tenant_id, status="AUTHORISED").order_by("id")
    return [i for i in invoices if str(i.id) in ours and not i.payments.exists() and not i.allocations.exists()]


def _perform(shop) -> ReconciliationRun:
    """A scheduled run as the queue carries it out: recorded pending, then performed."""
    start, end = whole_history()
    with tenant_scope(shop.tenant):
        pending = ReconciliationRunFactory(
            tenant=shop.tenant,
            xero_connection=Connection.objects.get(provider="xero"),
            trigger=ReconciliationRun.Trigger.SCHEDULED,
            period_start=start,
            period_end=end,
            status=ReconciliationRun.Status.PENDING,
            finished_at=None,
            summary={},
        )
        return reconciliation_perform(run=pending, transport=TRANSPORT)


def test_a_run_heals_what_xero_lost_reports_the_rest_and_remembers_what_was_accepted(world, client, api):
    shop = synced_shop(world.tenant_a1, code="e2e-a", orders=30, customers=12)
    other = synced_shop(world.tenant_b1, code="e2e-b", orders=6, customers=3, seed=8)
    with tenant_scope(shop.tenant):
        ReconciliationPolicyFactory(tenant=shop.tenant, auto_heal_missing=True)
        order_of = dict(CrossReference.objects.filter(entity="invoice").values_list("xero_id", "source_id"))
    deleted, changed = _open_invoices(shop)[:2]
    deleted_order, changed_order = order_of[str(deleted.id)], order_of[str(changed.id)]
    deleted_total = deleted.total
    # In Xero, someone deletes one invoice and adds 7.00 to another.
    deleted.lines.all().delete()
    deleted.delete()
    XeroInvoice.objects.filter(pk=changed.pk).update(total=changed.total + 7, sub_total=changed.sub_total + 7)

    run = _perform(shop)
    assert run.status == ReconciliationRun.Status.DONE, run.error
    with tenant_scope(shop.tenant):
        found = {(m.kind, m.source_id): m for m in Mismatch.objects.filter(run=run)}
        healed = found[(Kind.MISSING_IN_XERO, deleted_order)]
        differs = found[(Kind.AMOUNT_DIFFERS, changed_order)]
        # Auto-heal sent the lost invoice again; the changed amount waits for a person.
        assert healed.state == State.HEALED
        assert differs.state == State.OPEN and differs.difference == 7
        assert SyncJob.objects.filter(entity="invoice", source_id=deleted_order, state="pending").exists()
        drain_run(xero_connection=shop.xero, transport=TRANSPORT)
        new_id = CrossReference.objects.get(entity="invoice", source_id=deleted_order).xero_id
    assert XeroInvoice.objects.get(pk=new_id).total == deleted_total

    # The admins hear about what needs action, not about what healed itself.
    (message,) = [m for m in mail.outbox if "reconciliation" in m.subject]
    assert message.to == ["owner-a@example.com"]
    assert (
        f"{differs.source_label} (invoice) — source {differs.source_value}, Xero {differs.xero_value}" in message.body
    )
    assert "difference 7.00" in message.body
    assert "1 record missing in Xero was sent again automatically" in message.body
    assert f"/reconciliation/tenants/{shop.tenant.pk}/runs/{run.pk}/" in message.body

    # The report shows both, and the CSV has one row per mismatch of the run.
    client.force_login(world.owner_a)
    page = unescape(client.get(f"/reconciliation/tenants/{shop.tenant.pk}/runs/{run.pk}/").content.decode())
    assert "Auto-healed" in page and differs.source_label in page and differs.detail in page
    csv_lines = b"".join(
        client.get(f"/reconciliation/tenants/{shop.tenant.pk}/runs/{run.pk}/csv/").streaming_content
    ).splitlines()
    assert len(csv_lines) == 1 + run.mismatch_count

    # An admin accepts the changed amount through the API; the next run finds the healed invoice in Xero and keeps
    # the accepted difference accepted, so the email does not bring it up again.
    api.force_login(world.owner_a)
    accepted = api.post(
        f"/api/v1/tenants/{shop.tenant.pk}/reconciliations/{run.pk}/accept/",
        {"ids": [differs.pk], "note": "Freight added in Xero by the bookkeeper"},
        format="json",
    )
    assert accepted.json() == {"done": 1, "skipped": {}}
    mail.outbox.clear()
    again = _perform(shop)
    with tenant_scope(shop.tenant):
        later = {(m.kind, m.source_id): m for m in Mismatch.objects.filter(run=again)}
        assert (Kind.MISSING_IN_XERO, deleted_order) not in later
        carried = later[(Kind.AMOUNT_DIFFERS, changed_order)]
        assert carried.state == State.ACCEPTED and carried.note == "Freight added in Xero by the bookkeeper"
    assert all(differs.source_label not in m.body for m in mail.outbox)
    # The other tenant was never compared, healed or emailed about.
    with tenant_scope(other.tenant):
        assert not ReconciliationRun.objects.exists() and not Alert.objects.filter(kind="reconciliation").exists()
