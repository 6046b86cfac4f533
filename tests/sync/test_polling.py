"""Incremental polling: watermark with overlap, redelivery-free re-reads, calls outside transactions, and the
Magento store (Open Source has no webhooks, so polling is its only path) through the sandbox."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import DataError
from django.db import connection as db
from django_q.models import OrmQ

from connections.sources import source_adapter
from sandbox.magento.generator import generate
from sandbox.magento.services import store_create
from sandbox.transport import SandboxTransport
from sync.models import InboundEvent, SourceCursor
from sync.services.inbox import inbox_run_start
from sync.services.polling import source_poll, sources_poll_due
from tenants.scoping import tenant_scope
from tests.factories import ConnectionFactory
from tests.sandbox_world import magento_connection_for

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 1, 1, tzinfo=UTC)
BACKLOG_TASK = "sync.tasks.connection_backlog_process_task"


class FakeAdapter:
    """Records of one entity, oldest first unless told otherwise; remembers each `since` it was asked for."""

    entities = ("order", "stock")

    def __init__(self, records, *, stock=(), fail_after=None):
        self.records, self.stock, self.fail_after = list(records), list(stock), fail_after
        self.asked = []
        self.atomic_depths = []

    def changed(self, entity, *, since):
        self.asked.append((entity, since))
        if entity == "stock":
            yield from ((sku, None, {"sku": sku, "qty": qty}) for sku, qty in self.stock)
            return
        for n, (source_id, updated_at, native) in enumerate(self.records):
            if self.fail_after is not None and n == self.fail_after:
                raise RuntimeError("the source went away mid-run")
            if since is None or updated_at >= since:
                self.atomic_depths.append(len(db.atomic_blocks))
                yield source_id, updated_at, native


def _orders(n, start=T0):
    return [(str(i), start + timedelta(minutes=i), {"entity_id": i}) for i in range(1, n + 1)]


def _events(connection, kind=None):
    with tenant_scope(connection.tenant_id):
        rows = InboundEvent.objects.filter(connection=connection, source="poll").order_by("pk")
        return list(rows.filter(kind=kind) if kind else rows)


def _queued_runs() -> list[int]:
    """The connections a queued inbox-processing task is for, in queue order."""
    return [q.task["args"][0] for q in OrmQ.objects.order_by("id") if q.task["func"] == BACKLOG_TASK]


def _cursor(connection, entity="order"):
    with tenant_scope(connection.tenant_id):
        return SourceCursor.objects.get(connection=connection, entity=entity)


@pytest.fixture
def shops(world):
    return ConnectionFactory(tenant=world.tenant_a1), ConnectionFactory(tenant=world.tenant_b1)


def test_a_second_poll_stages_nothing_and_asks_from_the_watermark_minus_the_overlap(shops):
    mine, theirs = shops
    adapter = FakeAdapter(_orders(250), stock=[("MUG-1", "4")])
    with tenant_scope(mine.tenant_id):
        first = source_poll(connection=mine, adapter=adapter)
        second = source_poll(connection=mine, adapter=adapter, overlap=timedelta(minutes=10))
    assert first["entities"]["order"]["staged"] == 250 and first["entities"]["stock"]["staged"] == 1
    assert _cursor(mine).watermark == T0 + timedelta(minutes=250)
    assert adapter.asked[-2] == ("order", T0 + timedelta(minutes=240))
    # The overlap re-reads eleven orders and the undated stock level: all already in the inbox.
    assert second["entities"]["order"]["seen"] == 11 and second["staged"] == 0
    assert len(_events(mine)) == 251 and _events(theirs) == []
    assert _cursor(mine, "stock").watermark is None


def test_a_poll_of_many_pages_queues_one_inbox_run_and_a_started_run_lets_the_next_poll_queue(shops):
    mine, theirs = shops
    with tenant_scope(mine.tenant_id):
        source_poll(connection=mine, adapter=FakeAdapter(_orders(250)))
    with tenant_scope(theirs.tenant_id):
        source_poll(connection=theirs, adapter=FakeAdapter(_orders(120)))
    # Three pages of mine and two of theirs: one run each.
    assert _queued_runs() == [mine.pk, theirs.pk]
    with tenant_scope(mine.tenant_id):
        inbox_run_start(connection=mine)
        source_poll(connection=mine, adapter=FakeAdapter(_orders(260)))
        source_poll(connection=mine, adapter=FakeAdapter(_orders(260)))  # nothing new: nothing queued
    assert _queued_runs() == [mine.pk, theirs.pk, mine.pk]


def test_an_edited_record_and_a_changed_stock_level_are_picked_up(shops):
    mine, _ = shops
    adapter = FakeAdapter(_orders(5), stock=[("MUG-1", "4")])
    with tenant_scope(mine.tenant_id):
        source_poll(connection=mine, adapter=adapter)
        adapter.records.append(("3", T0 + timedelta(hours=2), {"entity_id": 3, "status": "complete"}))
        adapter.stock = [("MUG-1", "3")]
        again = source_poll(connection=mine, adapter=adapter)
    assert again["entities"]["order"]["staged"] == 1 and again["entities"]["stock"]["staged"] == 1
    assert [e.body for e in _events(mine, "order")][-1] == {"entity_id": 3, "status": "complete"}
    assert _cursor(mine).watermark == T0 + timedelta(hours=2)


def test_a_second_edit_within_the_same_second_is_not_taken_for_a_re_read(shops):
    mine, theirs = shops
    adapter = FakeAdapter(_orders(3))
    with tenant_scope(mine.tenant_id):
        source_poll(connection=mine, adapter=adapter)
        # Sources date changes to the second: this edit carries the same updated_at as the version already stored.
        adapter.records[1] = ("2", T0 + timedelta(minutes=2), {"entity_id": 2, "status": "complete"})
        again = source_poll(connection=mine, adapter=adapter)
        unchanged = source_poll(connection=mine, adapter=adapter)
    assert again["entities"]["order"]["staged"] == 1 and unchanged["staged"] == 0
    assert [e.body for e in _events(mine, "order")][-1] == {"entity_id": 2, "status": "complete"}
    assert _events(theirs) == []


def test_http_happens_outside_transactions(shops):
    mine, _ = shops
    adapter = FakeAdapter(_orders(230))
    baseline = len(db.atomic_blocks)  # the test's own transaction
    with tenant_scope(mine.tenant_id):
        source_poll(connection=mine, adapter=adapter)
    assert set(adapter.atomic_depths) == {baseline}


def test_a_run_that_breaks_keeps_what_was_stored_and_resumes_from_there(shops):
    mine, _ = shops
    adapter = FakeAdapter(_orders(250), fail_after=150)
    with tenant_scope(mine.tenant_id), pytest.raises(RuntimeError):
        source_poll(connection=mine, adapter=adapter)
    # The first page of 100 was stored and only it moved the watermark.
    assert len(_events(mine)) == 100
    assert _cursor(mine).watermark == T0 + timedelta(minutes=100)
    adapter.fail_after = None
    with tenant_scope(mine.tenant_id):
        source_poll(connection=mine, adapter=adapter)
    assert len(_events(mine)) == 250


def test_a_polled_record_reads_back_as_it_was_stored(shops):
    mine, _ = shops
    native = {"entity_id": 7, "name": "Zoë ☕", "lines": [{"qty": 2, "price": 12.5}], "note": None, "big": 10**20}
    with tenant_scope(mine.tenant_id):
        source_poll(connection=mine, adapter=FakeAdapter([("7", T0, native)]))
    (event,) = _events(mine, "order")
    assert event.body == native


@pytest.mark.skipif(db.vendor != "postgresql", reason="PostgreSQL's JSON columns refuse a NUL character")
def test_a_page_holding_a_nul_character_is_refused_and_stores_nothing(shops):
    # The body column is json, which would take it; processing could then never stage the record (a job's record
    # is jsonb). The page is refused where it was before, and the watermark stays.
    mine, _ = shops
    records = _orders(3)
    records[1] = ("2", T0 + timedelta(minutes=2), {"entity_id": 2, "name": "nul\x00"})
    with tenant_scope(mine.tenant_id), pytest.raises(DataError):
        source_poll(connection=mine, adapter=FakeAdapter(records))
    assert _events(mine) == []


def test_max_records_bounds_a_run_and_the_next_goes_on(shops):
    mine, _ = shops
    adapter = FakeAdapter(_orders(30))
    with tenant_scope(mine.tenant_id):
        first = source_poll(connection=mine, adapter=adapter, max_records=10, overlap=timedelta(0))
        source_poll(connection=mine, adapter=adapter, max_records=10, overlap=timedelta(0))
    assert first["entities"]["order"]["staged"] == 10
    # `since` is inclusive: the second run re-reads order 10 (a duplicate) and goes on to order 19.
    assert _cursor(mine).watermark == T0 + timedelta(minutes=19)
    assert len(_events(mine)) == 19


def test_a_cut_short_run_out_of_order_does_not_move_the_watermark(shops):
    mine, _ = shops
    records = list(reversed(_orders(30)))  # newest first: a source that cannot sort
    with tenant_scope(mine.tenant_id):
        source_poll(connection=mine, adapter=FakeAdapter(records), max_records=10)
        assert _cursor(mine).watermark is None
        source_poll(connection=mine, adapter=FakeAdapter(records))
    assert _cursor(mine).watermark == T0 + timedelta(minutes=30)
    assert len(_events(mine)) == 30


# The Magento sandbox ----------------------------------------------------------------------------------------------

END = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _magento(tenant, store: dict, *, token=None):
    return magento_connection_for(tenant, store, token=token)


@pytest.fixture
def magento_shops(world):
    a = store_create(code="poll-mag-a", currency="USD")
    b = store_create(code="poll-mag-b", currency="AUD", tax_inclusive=True)
    generate(account="poll-mag-a", seed=5, customers=6, orders=25, end=END, days=30)
    generate(account="poll-mag-b", seed=6, customers=4, orders=12, end=END, days=30)
    return _magento(world.tenant_a1, a), _magento(world.tenant_b1, b)


def test_magento_orders_are_polled_once_and_an_edit_is_picked_up(magento_shops):
    mine, theirs = magento_shops
    with tenant_scope(mine.tenant_id):
        first = source_poll(connection=mine, transport=SandboxTransport())
        second = source_poll(connection=mine, transport=SandboxTransport())
    assert first["entities"]["order"]["staged"] == 25
    assert first["entities"]["customer"]["staged"] > 0
    assert second["staged"] == 0, second
    order_id = _events(mine, "order")[0].body["entity_id"]

    with tenant_scope(mine.tenant_id):
        with source_adapter(mine, transport=SandboxTransport()) as adapter:
            adapter.order_add_comment(str(order_id), comment="Customer asked for gift wrap.")
        third = source_poll(connection=mine, transport=SandboxTransport())
    assert third["entities"]["order"]["staged"] == 1
    edited = _events(mine, "order")[-1]
    assert edited.body["entity_id"] == order_id
    assert edited.body["status_histories"][0]["comment"] == "Customer asked for gift wrap."
    assert _events(theirs) == []


def test_the_scheduler_polls_every_active_source_and_survives_a_broken_one(magento_shops, world):
    mine, theirs = magento_shops
    broken = _magento(world.tenant_a2, store_create(code="poll-mag-a", currency="USD"), token="revoked-token-1234")
    ConnectionFactory(tenant=world.tenant_b2, provider="rest", credentials={})
    summary = sources_poll_due(transport=SandboxTransport())
    assert summary["polled"] == 2 and summary["failed"] == 1
    assert set(summary["errors"]) == {broken.pk}
    assert len(_events(mine, "order")) == 25 and len(_events(theirs, "order")) == 12
    assert _events(broken) == []
