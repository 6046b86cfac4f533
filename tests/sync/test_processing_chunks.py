"""Processing the inbox a chunk at a time: every waiting event once, in arrival order, however small the chunks."""

import pytest

from core.fields import StoredJson, stored_json_load
from sync.models import InboundEvent
from sync.services.processing import _events_read, inbound_events_process_pending
from tenants.scoping import tenant_scope
from tests.factories import ConnectionFactory, InboundEventFactory

pytestmark = pytest.mark.django_db


def _stored(tenant, n: int) -> list[int]:
    """n polled events of a kind the Magento adapter does not sync: processing reads them and stages nothing."""
    with tenant_scope(tenant):
        ConnectionFactory(tenant=tenant, provider="xero", credentials={})
        store = ConnectionFactory(tenant=tenant)
        return [
            InboundEventFactory(
                tenant=tenant, connection=store, source=InboundEvent.Source.POLL, kind="ticket", body={"id": i}
            ).pk
            for i in range(n)
        ]


def test_pending_events_are_processed_once_each_in_arrival_order_with_one_event_a_chunk(world):
    mine, theirs = _stored(world.tenant_a1, 3), _stored(world.tenant_b1, 1)
    with tenant_scope(world.tenant_a1):
        # Every body is larger than a byte, so every chunk is one event; the limit stops after the first two.
        assert inbound_events_process_pending(chunk_bytes=1, limit=2) == {"processed": 2}
        statuses = dict(InboundEvent.objects.values_list("pk", "status"))
        assert [statuses[pk] for pk in mine] == ["processed", "processed", "received"]
        assert inbound_events_process_pending(chunk_bytes=1) == {"processed": 1}
        assert inbound_events_process_pending(chunk_bytes=1) == {}
    with tenant_scope(world.tenant_b1):
        assert InboundEvent.objects.get(pk=theirs[0]).status == "received"


def test_a_chunk_holds_its_event_bodies_as_stored_until_each_is_read(world):
    """A chunk's bodies are read as their stored text and decoded one event at a time (core.fields.StoredJson):
    decoded at once they were 4 MB of small objects, the largest thing processing held."""
    mine, theirs = _stored(world.tenant_a1, 2), _stored(world.tenant_b1, 1)
    with tenant_scope(world.tenant_a1):
        events, from_xero = _events_read(mine + theirs)

    assert sorted(event.pk for event in events) == sorted(mine) and from_xero == []
    for event in events:
        assert isinstance(event.body, StoredJson)
    assert sorted(stored_json_load(event.body)["id"] for event in events) == [0, 1]
