"""Conflicts: a customer changed in Magento and its contact changed in Xero since the last sync. The field group's
system of record wins, else the later change; both directions respect it, and every settlement is audited with
both values and the rule. Two tenants: the other one's records and audit trail are untouched."""

from datetime import timedelta

import httpx
import pytest
from django.utils import timezone

from mappings.models import SystemOfRecord
from sandbox.transport import SandboxTransport
from sandbox.xero.models import Contact as XeroContact
from sync.models import AuditEntry, CrossReference, SyncJob
from sync.services.drain import drain_run
from sync.services.polling import source_poll
from sync.services.processing import inbound_events_process_pending
from sync.services.xero_contacts import xero_contact_events_handle
from tenants.scoping import tenant_scope
from tests.sync.back_helpers import TRANSPORT, shop

pytestmark = pytest.mark.django_db


def _engine(s):
    """Magento → Xero: poll, process, drain."""
    with tenant_scope(s.tenant):
        source_poll(connection=s.magento, transport=TRANSPORT)
        inbound_events_process_pending(transport=TRANSPORT)
        return drain_run(xero_connection=s.xero, transport=TRANSPORT)


def _xero_webhooks(s, settings):
    events = [e for e in s.deliver_xero_webhooks(settings) if e["eventCategory"] == "CONTACT"]
    with tenant_scope(s.tenant):
        counts = xero_contact_events_handle(xero_connection=s.xero, events=events, transport=TRANSPORT)
        # The inbox's own processing of the same events (Xero's dispatch) finds them already applied.
        inbound_events_process_pending(connection=s.xero, transport=TRANSPORT)
    return counts


def _owner(s, group: str, owner: str):
    with tenant_scope(s.tenant):
        SystemOfRecord.objects.create(tenant=s.tenant, source_connection=s.magento, field_group=group, owner=owner)


def _settlements(s) -> list[AuditEntry]:
    with tenant_scope(s.tenant):
        return list(AuditEntry.objects.filter(outcome="settled").order_by("id"))


@pytest.fixture
def synced(world, settings):
    """Two tenants whose Magento customers are already in Xero (and Xero's echo of that write is consumed)."""
    shops = shop(world.tenant_a1, code="confa"), shop(world.tenant_b1, code="confb", seed=11)
    for s in shops:
        s.policy(contacts_from_xero=True)
        s.xero_webhooks_on(settings)
        assert _engine(s).done == len(s.customers())
        assert _xero_webhooks(s, settings)["unchanged"] == len(s.customers())
    mine = shops[0]
    customer = min(mine.customers().values(), key=lambda c: c["id"])
    with tenant_scope(mine.tenant):
        xero_id = CrossReference.objects.get(entity="contact", source_id=str(customer["id"])).xero_id
    return (*shops, customer["id"], xero_id)


def test_xero_as_system_of_record_wins_a_concurrent_edit_and_the_source_never_overwrites_it(synced, settings):
    mine, other, customer_id, xero_id = synced
    other_customers = other.customers()
    _owner(mine, "contact_details", "xero")
    mine.customer_edit(customer_id, email="magento.side@example.com")
    mine.xero_contact_save(ContactID=xero_id, EmailAddress="xero.side@example.com")
    with tenant_scope(mine.tenant):
        source_poll(connection=mine.magento, transport=TRANSPORT)
        inbound_events_process_pending(transport=TRANSPORT)
        assert SyncJob.objects.filter(entity="contact", source_id=str(customer_id), state="pending").exists()

    counts = _xero_webhooks(mine, settings)

    assert counts["settled"] == 1 and counts["updated"] == 1
    assert mine.customers()[customer_id]["email"] == "xero.side@example.com"
    (settled,) = _settlements(mine)
    assert settled.request["source"]["email"] == "magento.side@example.com"
    assert settled.request["xero"]["email"] == "xero.side@example.com"
    assert (settled.response["winner"], settled.response["rule"]) == ("xero", "system_of_record")
    assert "Xero wins" in settled.detail
    with tenant_scope(mine.tenant):
        # The customer's stale version, staged before the settlement, is never sent over Xero's.
        assert not SyncJob.objects.filter(entity="contact", source_id=str(customer_id), state="pending").exists()
    _engine(mine)
    assert mine.xero_contact(xero_id)["EmailAddress"] == "xero.side@example.com"

    # Only Magento changes the name now, within the same second as its last change: the drain updates the contact
    # but leaves Xero's details alone.
    mine.customer_edit(customer_id, firstname="Magento-only")
    report = _engine(mine)
    assert report.done == 1
    assert mine.xero_contact(xero_id).get("FirstName") != "Magento-only"
    kept_out = _settlements(mine)[-1]
    assert kept_out.request["source"]["first_name"] == "Magento-only"
    assert (kept_out.response["winner"], kept_out.response["rule"]) == ("xero", "system_of_record")
    assert other.customers() == other_customers and _settlements(other) == []


def test_the_source_as_system_of_record_wins_and_its_value_reaches_xero(synced, settings):
    mine, other, customer_id, xero_id = synced
    _owner(mine, "contact_details", "source")
    _owner(other, "contact_details", "xero")  # the other tenant's own choice changes nothing here
    mine.customer_edit(customer_id, email="magento.side@example.com")
    mine.xero_contact_save(ContactID=xero_id, EmailAddress="xero.side@example.com")

    counts = _xero_webhooks(mine, settings)

    assert counts["settled"] == 1 and counts["updated"] == 0
    assert mine.customers()[customer_id]["email"] == "magento.side@example.com"
    (settled,) = _settlements(mine)
    assert (settled.response["winner"], settled.response["rule"]) == ("source", "system_of_record")
    _engine(mine)
    assert mine.xero_contact(xero_id)["EmailAddress"] == "magento.side@example.com"
    # Xero's echo of that write is recognised as ours: nothing more is written or settled.
    assert _xero_webhooks(mine, settings)["updated"] == 0
    assert len(_settlements(mine)) == 1 and _settlements(other) == []


def test_without_a_system_of_record_the_later_change_wins(synced, settings):
    mine, other, customer_id, xero_id = synced
    second_id, second_xero = _second(mine)
    # In Xero, one edit an hour ago (before Magento's) and one just now (after Magento's).
    mine.xero_contact_save(ContactID=xero_id, EmailAddress="xero.early@example.com")
    XeroContact.objects.filter(id=xero_id).update(updated_at=timezone.now() - timedelta(hours=1))
    mine.customer_edit(customer_id, email="magento.later@example.com")
    mine.customer_edit(second_id, email="magento.earlier@example.com")
    mine.xero_contact_save(ContactID=second_xero, EmailAddress="xero.later@example.com")
    XeroContact.objects.filter(id=second_xero).update(updated_at=timezone.now() + timedelta(minutes=5))

    counts = _xero_webhooks(mine, settings)

    assert counts["settled"] == 2
    customers = mine.customers()
    assert customers[customer_id]["email"] == "magento.later@example.com"
    assert customers[second_id]["email"] == "xero.later@example.com"
    winners = {(e.source_id, e.response["winner"], e.response["rule"]) for e in _settlements(mine)}
    assert winners == {(str(customer_id), "source", "later_change"), (str(second_id), "xero", "later_change")}
    _engine(mine)
    assert mine.xero_contact(xero_id)["EmailAddress"] == "magento.later@example.com"
    assert mine.xero_contact(second_xero)["EmailAddress"] == "xero.later@example.com"
    assert _settlements(other) == []


def _second(s) -> tuple[int, str]:
    customer = sorted(s.customers().values(), key=lambda c: c["id"])[1]
    with tenant_scope(s.tenant):
        return customer["id"], CrossReference.objects.get(entity="contact", source_id=str(customer["id"])).xero_id


class ContactWritesDown(SandboxTransport):
    """While `down`, Xero answers every contact write with a 503, as during an outage; other calls go through."""

    down = True
    refused = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.down and request.method == "POST" and request.url.path.endswith("/Contacts"):
            self.refused += 1
            return httpx.Response(503, json={"Message": "Service unavailable"}, request=request)
        return super().handle_request(request)


def test_a_kept_out_change_is_audited_once_though_its_send_is_retried(synced, settings):
    mine, other, customer_id, xero_id = synced
    _owner(mine, "contact_details", "xero")
    mine.customer_edit(customer_id, firstname="Magento-only")
    outage = ContactWritesDown()
    with tenant_scope(mine.tenant):
        source_poll(connection=mine.magento, transport=TRANSPORT)
        inbound_events_process_pending(transport=TRANSPORT)
        drain_run(xero_connection=mine.xero, transport=outage)
        assert outage.refused
        job = SyncJob.objects.filter(entity="contact", source_id=str(customer_id)).latest("id")
        assert job.state == SyncJob.State.PENDING  # waiting to be retried
        outage.down = False
        SyncJob.objects.filter(pk=job.pk).update(next_attempt_at=timezone.now())
        report = drain_run(xero_connection=mine.xero, transport=outage)
        assert report.done + report.matched == 1
        assert SyncJob.objects.get(pk=job.pk).state == SyncJob.State.DONE

    (settled,) = _settlements(mine)
    assert settled.request["source"]["first_name"] == "Magento-only"
    assert mine.xero_contact(xero_id).get("FirstName") != "Magento-only"
    assert _settlements(other) == []
