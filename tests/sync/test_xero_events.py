"""Stored Xero webhook events go to their category's handler through processing, a batch per category."""

import pytest

from sync.models import InboundEvent
from sync.services.processing import inbound_events_process_pending
from sync.services.xero_events import XERO_EVENT_HANDLERS
from tenants.scoping import tenant_scope
from tests.factories import ConnectionFactory, InboundEventFactory
from tests.sync.back_helpers import TRANSPORT, shop

pytestmark = pytest.mark.django_db


def test_contact_and_invoice_events_reach_their_handlers_through_the_inbox(world, settings):
    mine, other = shop(world.tenant_a1, code="evta"), shop(world.tenant_b1, code="evtb", seed=9)
    mine.policy(contacts_from_xero=True)
    mine.xero_webhooks_on(settings)
    before = len(mine.customers())
    contact = mine.xero_contact_save(Name="Ada Byron", FirstName="Ada", LastName="Byron", EmailAddress="ada@x.test")
    other.xero_contact_save(Name="Other Ada", EmailAddress="ada@x.test")
    events = mine.deliver_xero_webhooks(settings)
    assert [e["eventCategory"] for e in events] == ["CONTACT"]

    with tenant_scope(mine.tenant):
        assert inbound_events_process_pending(transport=TRANSPORT) == {"processed": 1}
        (event,) = InboundEvent.objects.filter(connection=mine.xero)
        assert event.status == "processed" and "created 1" in event.reason
    created = [c for c in mine.customers().values() if c["email"] == "ada@x.test"]
    assert len(mine.customers()) == before + 1 and created[0]["lastname"] == "Byron"
    with tenant_scope(other.tenant):
        assert not InboundEvent.objects.filter(connection=other.xero, status="processed").exists()
    assert contact["ContactID"] and set(XERO_EVENT_HANDLERS) == {"INVOICE", "CONTACT"}


def test_events_of_a_category_nobody_handles_are_processed_with_a_note(world):
    with tenant_scope(world.tenant_a1):
        xero = ConnectionFactory(tenant=world.tenant_a1, provider="xero", credentials={})
        InboundEventFactory(
            tenant=world.tenant_a1,
            connection=xero,
            kind="CREDITNOTE.UPDATE",
            body={"resourceId": "c0ffee00-0000-4000-8000-000000000001", "eventCategory": "CREDITNOTE"},
        )
        assert inbound_events_process_pending() == {"processed": 1}
        (event,) = InboundEvent.objects.all()
        assert "not synced back" in event.reason
