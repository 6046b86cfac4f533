"""The drain chooses and builds the next batch while one is at Xero (sync.services.drain._Flight).

These tests commit for real (a transactional database): the batch in flight is sent and recorded on its own thread
and database connection, which would not see a test transaction's rows; inside one, the drain sends inline.
"""

import threading
from dataclasses import replace

import pytest

from connections.providers.xero import accounting
from sandbox.xero.models import Invoice as XeroInvoice
from sync.models import AuditEntry, CrossReference, SyncJob
from sync.services import drain
from sync.services.staging import jobs_stage
from tenants.scoping import tenant_scope
from tests.sync.engine_helpers import World, simple_payloads

pytestmark = [pytest.mark.needs_postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def overlap_on(settings):
    settings.SYNC_DRAIN_OVERLAP = True


State = SyncJob.State
WAIT = 5.0  # seconds a batch in flight waits for the next one to be chosen; never reached when they overlap


class _Flights:
    """Holds each batch at Xero until the drain has chosen its next batch, and records what was chosen meanwhile.

    Sent inline (no overlap), a batch would wait in vain: nothing is chosen until it returns.
    """

    def __init__(self, monkeypatch, on_claim=None):
        self.senders, self.overlapped, self.chosen_in_flight = [], [], []
        self._claimed = threading.Event()  # a batch was marked running and handed to the sender
        self._chosen = threading.Event()  # the drain chose (or looked for) its next batch since
        self._on_claim = on_claim
        save_batch, next_batch, mark_running = accounting.save_batch, drain._next_batch, drain._mark_running

        def marking(jobs):
            claimed = mark_running(jobs)
            if self._on_claim is not None:
                self._on_claim(claimed)
            self._chosen.clear()
            self._claimed.set()
            return claimed

        def choosing(*args, **kwargs):
            batch = next_batch(*args, **kwargs)
            if self._claimed.is_set():
                self.chosen_in_flight.append([job.pk for job in batch])
                self._claimed.clear()
                self._chosen.set()
            return batch

        def sending(client, entity, payloads, **kwargs):
            self.senders.append(threading.current_thread().name)
            self.overlapped.append(self._chosen.wait(WAIT))
            return save_batch(client, entity, payloads, **kwargs)

        monkeypatch.setattr(drain, "_mark_running", marking)
        monkeypatch.setattr(drain, "_next_batch", choosing)
        monkeypatch.setattr(accounting, "save_batch", sending)


def _invoice_numbers_in_xero(shop) -> list[str]:
    """Every sales invoice's number in the shop's Xero organisation (a duplicate shows up twice)."""
    return list(
        XeroInvoice.objects.filter(org__tenant_id=shop.org["tenant_id"], type="ACCREC").values_list(
            "invoice_number", flat=True
        )
    )


def _drain(shop):
    return drain.drain_run(
        xero_connection=shop.xero, payload_builder=simple_payloads, client_factory=shop.client_factory()
    )


def test_the_next_batch_is_chosen_while_one_is_at_xero_and_every_record_lands_once(world, monkeypatch):
    with tenant_scope(world.tenant_a1):
        a = World(world.tenant_a1, name="Alpha", store="alpha", orders=60, customers=55)
        staged = a.stage_orders()
        invoices = len(a.open_orders())
        contacts = {j.source_id for j in staged if j.entity == "contact"}
    with tenant_scope(world.tenant_b1):
        b = World(world.tenant_b1, name="Beta", store="beta", orders=7)
        b_jobs = b.stage_orders()
    flights = _Flights(monkeypatch)

    with tenant_scope(world.tenant_a1):
        report = _drain(a)

        # Each batch went from the sending thread, and the next was chosen before its answer came.
        assert flights.senders and all(name.startswith("drain-send") for name in flights.senders)
        assert all(flights.overlapped), flights.overlapped
        assert report.done == len(staged) == len(contacts) + invoices and report.needs_attention == 0
        assert report.batches == -(-len(contacts) // 50) + -(-invoices // 50)
        assert SyncJob.objects.filter(state=State.DONE).count() == len(staged)
        assert CrossReference.objects.filter(entity="invoice").count() == invoices
        assert AuditEntry.objects.filter(outcome=AuditEntry.Outcome.CREATED).count() == len(staged)
    numbers = _invoice_numbers_in_xero(a)
    assert len(numbers) == len(set(numbers)) == invoices
    with tenant_scope(world.tenant_b1):
        # The other tenant's jobs were never touched.
        assert SyncJob.objects.filter(state=State.PENDING).count() == len(b_jobs)


def test_a_newer_version_of_a_record_in_flight_waits_for_its_answer_and_updates_what_it_created(world, monkeypatch):
    with tenant_scope(world.tenant_a1):
        a = World(world.tenant_a1, name="Alpha", store="alpha", orders=12, customers=5)
        a.stage_orders()
    with tenant_scope(world.tenant_b1):
        b = World(world.tenant_b1, name="Beta", store="beta", orders=3)
        b.stage_orders()
    edited = {}

    def edit_an_order_in_flight(jobs):
        # The source edits an order whose invoice is being sent right now: its next version is staged.
        if jobs[0].entity != "invoice" or edited:
            return
        running = jobs[0]
        order = next(o for o in a.orders() if o.source_id == running.source_id)
        (staged,) = jobs_stage(source_connection=a.source, entity="order", record=replace(order, extra={"edit": 1}))
        newer = SyncJob.objects.get(idempotency_key=staged.idempotency_key)
        # The drain's next choice, made while this batch is at Xero, is the next one recorded.
        edited.update(first=running, newer=newer, choice=len(flights.chosen_in_flight))

    flights = _Flights(monkeypatch, on_claim=edit_an_order_in_flight)
    with tenant_scope(world.tenant_a1):
        _drain(a)

        first, newer = edited["first"], edited["newer"]
        assert newer.entity == "invoice" and newer.source_id == first.source_id
        # Chosen while the first version was at Xero, the newer one was not: it would have been built as a second
        # invoice, the first one's cross-reference not yet written.
        assert newer.pk not in flights.chosen_in_flight[edited["choice"]]
        newer.refresh_from_db()
        assert newer.state == State.DONE
        assert AuditEntry.objects.get(job=newer).outcome == AuditEntry.Outcome.UPDATED
        xref = CrossReference.objects.get(entity="invoice", source_id=first.source_id)
        assert xref.source_version == newer.source_version
    number = XeroInvoice.objects.get(pk=xref.xero_id).invoice_number
    assert XeroInvoice.objects.filter(org__tenant_id=a.org["tenant_id"], invoice_number=number).count() == 1
    with tenant_scope(world.tenant_b1):
        assert not SyncJob.objects.filter(state=State.DONE).exists()


def test_several_batches_fly_at_once_and_none_holds_a_record_another_holds_or_waits_for(world, monkeypatch, settings):
    settings.SYNC_DRAIN_IN_FLIGHT = 3
    with tenant_scope(world.tenant_a1):
        a = World(world.tenant_a1, name="Alpha", store="alpha", orders=220, customers=30)
        staged = a.stage_orders()
        invoices = len(a.open_orders())
    with tenant_scope(world.tenant_b1):
        b = World(world.tenant_b1, name="Beta", store="beta", orders=5)
        b_jobs = b.stage_orders()
    guard, flying, most, clashes = threading.Lock(), {}, [0], []
    send_batch = drain._send_batch

    def sending(client, xero_connection, jobs, report):
        records = {(job.entity, job.source_id) for job in jobs}
        waits_for = {(job.depends_on_entity, job.depends_on_source_id) for job in jobs if job.depends_on_entity}
        with guard:
            for other_records, other_waits in flying.values():
                if records & other_records or waits_for & other_records or other_waits & records:
                    clashes.append(sorted(records & (other_records | other_waits) | waits_for & other_records))
            flying[threading.get_ident()] = (records, waits_for)
            most[0] = max(most[0], len(flying))
        try:
            # Xero takes its time: long enough for the drain to choose, build and send the next batches meanwhile.
            threading.Event().wait(0.3)
            return send_batch(client, xero_connection, jobs, report)
        finally:
            with guard:
                del flying[threading.get_ident()]

    monkeypatch.setattr(drain, "_send_batch", sending)
    with tenant_scope(world.tenant_a1):
        report = _drain(a)

        assert most[0] >= 2, "never more than one batch at Xero"
        assert most[0] <= 3
        assert clashes == []
        assert report.done == len(staged) and report.needs_attention == 0
        assert SyncJob.objects.filter(state=State.DONE).count() == len(staged)
    numbers = _invoice_numbers_in_xero(a)
    assert len(numbers) == len(set(numbers)) == invoices
    with tenant_scope(world.tenant_b1):
        assert SyncJob.objects.filter(state=State.PENDING).count() == len(b_jobs)
