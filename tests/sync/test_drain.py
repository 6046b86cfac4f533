"""The drain against the Xero sandbox: batches, dependencies, failure policy, lost responses, leases."""

from datetime import timedelta

import pytest
from django.utils import timezone

from connections.providers.xero import accounting
from sandbox.faults import fault_profile_set
from sandbox.xero.models import Contact as XeroContact
from sandbox.xero.models import Invoice as XeroInvoice
from sync.models import AuditEntry, CrossReference, DrainLease, SyncJob
from sync.services import drain
from sync.services.drain import drain_lease_acquire, drain_run
from sync.services.staging import jobs_stage
from tenants.scoping import tenant_scope
from tests.sync.engine_helpers import Result, World, payloads_refusing_invoice, simple_payloads

pytestmark = pytest.mark.django_db
State = SyncJob.State


def _drain(world, **kwargs):
    kwargs.setdefault("client_factory", world.client_factory())
    return drain_run(xero_connection=world.xero, payload_builder=simple_payloads, **kwargs)


def _xero_invoices(world):
    return XeroInvoice.objects.filter(org__tenant_id=world.org["tenant_id"], type="ACCREC")


def _payments_stage(w: World, orders) -> None:
    """Stage a payment in full of each order (by cheque, paid when ordered)."""
    from connections.canonical import Payment

    for order in orders:
        payment = Payment(
            source_id=f"pay-{order.source_id}",
            order_source_id=order.source_id,
            amount=order.grand_total,
            currency=order.currency,
            method="checkmo",
            paid_at=order.created_at,
        )
        jobs_stage(source_connection=w.source, entity="payment", record=payment)


def test_orders_reach_xero_in_batches_contacts_first(world):
    with tenant_scope(world.tenant_a1):
        a = World(world.tenant_a1, name="Alpha", store="alpha", orders=60, customers=55)
        staged = a.stage_orders()
        invoices = len(a.open_orders())
        contacts = {j.source_id for j in staged if j.entity == "contact"}
        assert {j.operation for j in staged} == {SyncJob.Operation.CONTACT_UPSERT, SyncJob.Operation.INVOICE_UPSERT}
        report = _drain(a)
        assert report.done == len(staged) == len(contacts) + invoices and report.needs_attention == 0
        # Up to 50 per request: contacts first, then the invoices that need them.
        assert report.batches == -(-len(contacts) // 50) + -(-invoices // 50)
        assert SyncJob.objects.filter(state=State.DONE).count() == len(staged)
        assert CrossReference.objects.filter(entity="invoice").count() == invoices
        assert CrossReference.objects.filter(entity="contact").count() == len(contacts)
        assert AuditEntry.objects.filter(outcome=AuditEntry.Outcome.CREATED).count() == len(staged)
    assert _xero_invoices(a).count() == invoices
    # Every invoice points at the contact created for its customer.
    invoice = _xero_invoices(a).first()
    assert invoice.contact_id is not None


def test_the_audit_keeps_what_was_sent_and_xeros_answer_for_each_record(world):
    """The audit entry of each record sent holds its payload as sent and Xero's answer with every amount as a
    number; another tenant's drain writes none of its entries."""
    from decimal import Decimal

    with tenant_scope(world.tenant_b1):
        b = World(world.tenant_b1, name="Beta", store="beta", orders=3)
        b.stage_orders()
    with tenant_scope(world.tenant_a1):
        a = World(world.tenant_a1, name="Alpha", store="alpha", orders=6, customers=4)
        a.stage_orders()
        _drain(a)
        entries = list(AuditEntry.objects.filter(outcome=AuditEntry.Outcome.CREATED, entity="invoice"))
        assert len(entries) == len(a.open_orders())
        for entry in entries:
            invoice = _xero_invoices(a).get(id=entry.xero_id)
            assert entry.request["InvoiceNumber"] == invoice.invoice_number
            assert len(entry.request["LineItems"]) == invoice.lines.count()
            assert entry.response["InvoiceID"] == entry.xero_id
            assert Decimal(str(entry.response["Total"])) == invoice.total
    with tenant_scope(world.tenant_b1):
        assert not AuditEntry.objects.exists()


def test_xeros_answer_is_stored_as_it_always_was():
    """Encoded once for the audit (drain._jsonable_text), Xero's answer reads back exactly as the decode and encode
    it replaces (drain._jsonable) left it: whole amounts as integers, others as the nearest float."""
    import json
    from decimal import Decimal

    from sync.services.drain import _jsonable, _jsonable_text

    answer = {
        "Total": Decimal("123.4500"),
        "Lines": [{"Quantity": Decimal("2"), "UnitAmount": Decimal("0.1000"), "Tax": Decimal("-0.00")}],
        "Rate": Decimal("1E+2"),
        "Small": Decimal("0.000001"),
        "Name": 'Müller & "Sons"',
        "Paid": None,
        "Count": 3,
        "Sent": True,
    }
    stored = json.loads(_jsonable_text(answer))
    assert stored == _jsonable(answer)
    assert repr(stored) == repr(_jsonable(answer))  # same types: 2 stays an int, -0.00 a negative zero float
    with pytest.raises(ValueError):
        _jsonable_text({"Total": Decimal("NaN")})


def test_payloads_are_stored_as_they_always_were():
    """Made JSON for storage by orjson (drain._jsonable), a payload reads back exactly as json's encoding with exact
    Decimals read back left it: the same values of the same types; what orjson cannot write goes that way itself,
    and what it refused (a NaN amount, a date) is still refused."""
    import datetime
    from decimal import Decimal

    from core import jsonexact, jsonfast
    from sync.services.drain import _jsonable

    def as_before(value):
        return jsonfast.loads(jsonexact.dumps(value).encode())

    payloads = [
        {
            "Total": Decimal("123.4500"),
            "LineItems": ({"Quantity": Decimal("2"), "UnitAmount": 0.1, "Tax": Decimal("-0.00")},),
            "Rate": Decimal("1E+2"),
            "Small": Decimal("0.000001"),
            "Long": Decimal("12345678901234567.891"),
            "Name": 'Müller & "Sons"',
            "Paid": None,
            "Count": 3,
            "Sent": True,
        },
        {"Beyond64Bits": 2**70, "AsDecimal": Decimal(2**70)},
        {7: "a key that is not a string"},
        {"Kind": drain.State.DONE, "Surrogate": "\ud800"},
    ]
    for payload in payloads:
        assert repr(_jsonable(payload)) == repr(as_before(payload))
    with pytest.raises(ValueError):
        _jsonable({"Total": Decimal("NaN")})
    with pytest.raises(TypeError):
        _jsonable({"Date": datetime.date(2026, 1, 1)})


def test_one_tenants_drain_never_touches_another_tenants_jobs(world):
    with tenant_scope(world.tenant_a1):
        a = World(world.tenant_a1, name="Alpha", store="alpha", orders=5)
        a.stage_orders()
    with tenant_scope(world.tenant_b1):
        b = World(world.tenant_b1, name="Beta", store="beta", orders=7)
        b_jobs = b.stage_orders()
    with tenant_scope(world.tenant_a1):
        _drain(a)
        a_invoices = len(a.open_orders())
    with tenant_scope(world.tenant_b1):
        assert SyncJob.objects.filter(state=State.PENDING).count() == len(b_jobs)
    assert _xero_invoices(b).count() == 0 and _xero_invoices(a).count() == a_invoices


def test_staging_the_same_record_twice_stages_nothing_new_and_unchanged_records_nothing_after_sync(world):
    with tenant_scope(world.tenant_a1):
        a = World(world.tenant_a1, name="Alpha", store="alpha", orders=6)
        first = a.stage_orders()
        assert first and a.stage_orders() == []
        _drain(a)
        assert a.stage_orders() == []
        # (Orders generated cancelled leave a discarded void behind: the record that they were never invoiced.)
        assert SyncJob.objects.exclude(state=State.DISCARDED).count() == len(first)


def test_two_workers_staging_the_same_change_store_it_once(world, monkeypatch):
    from sync.services import staging

    with tenant_scope(world.tenant_a1):
        a = World(world.tenant_a1, name="Alpha", store="alpha", orders=6)
        a.stage_orders()
        # The other worker's rows are committed after this one looked for them: it sees none of its keys taken.
        monkeypatch.setattr(staging.SyncJob.objects, "filter", _hide_taken_keys(staging.SyncJob.objects.filter))
        stored = {job.idempotency_key for job in SyncJob.objects.all()}
        missing = SyncJob.objects.filter(entity="invoice").order_by("id").last()
        missing.delete()  # one change this worker still adds

        again = a.stage_orders()

        # It tried to insert keys the other had stored (its COPY met them and it fell back), and the one missing.
        assert missing.idempotency_key in {job.idempotency_key for job in again}
        assert len({job.idempotency_key for job in again} & stored) > 1
        stored_now = list(SyncJob.objects.values_list("idempotency_key", flat=True))
        assert sorted(stored_now) == sorted(stored)  # every change once, the missing one restored


def _hide_taken_keys(filter_):
    # Staging reads the keys taken with the records' jobs (by entity and source id), or on their own (by key).
    def filter(*args, **kwargs):
        if {"idempotency_key__in", "idempotency_key__any", "entity__any"} & kwargs.keys():
            return filter_(pk__in=[])
        return filter_(*args, **kwargs)

    return filter


def test_a_validation_error_holds_one_record_and_lets_the_rest_through(world):
    with tenant_scope(world.tenant_a1):
        a = World(world.tenant_a1, name="Alpha", store="alpha", orders=4)
        a.stage_orders()
        report = drain_run(
            xero_connection=a.xero, payload_builder=payloads_refusing_invoice(1), client_factory=a.client_factory()
        )
        held = SyncJob.objects.get(state=State.NEEDS_ATTENTION)
        assert held.entity == "invoice" and "Xero refused it" in held.cause and "999" in held.cause
        assert report.needs_attention == 1
        assert SyncJob.objects.filter(entity="invoice", state=State.DONE).count() == 3


def test_xero_outage_backs_off_and_a_dropped_response_never_duplicates(world):
    with tenant_scope(world.tenant_a1):
        a = World(world.tenant_a1, name="Alpha", store="alpha", orders=3, customers=3)
        a.stage_orders()
        # Every write is applied and its answer lost; the client does not retry by itself here.
        fault_profile_set(system="xero", account=a.org["tenant_id"], drop_rate=1.0)
        report = _drain(a, client_factory=a.client_factory(max_attempts=1))
        assert report.retrying > 0 and report.done == 0
        job = SyncJob.objects.filter(entity="contact").first()
        assert job.state == State.PENDING and job.attempts == 1 and job.next_attempt_at > timezone.now()
        assert (
            XeroContact.objects.filter(org__tenant_id=a.org["tenant_id"]).exclude(name__startswith="Demo").count() >= 1
        )  # the writes did happen

        fault_profile_set(system="xero", account=a.org["tenant_id"], drop_rate=0.0)
        a.due_now()
        report = _drain(a)
        assert report.matched >= 1
        assert SyncJob.objects.exclude(state=State.DONE).count() == 0
        assert AuditEntry.objects.filter(outcome=AuditEntry.Outcome.MATCHED).exists()
    numbers = list(
        XeroContact.objects.filter(org__tenant_id=a.org["tenant_id"], contact_number__startswith="T-").values_list(
            "contact_number", flat=True
        )
    )
    assert len(numbers) == len(set(numbers)) == 3
    assert _xero_invoices(a).count() == 3


def test_a_throttled_batch_spends_no_attempt(world):
    with tenant_scope(world.tenant_a1):
        a = World(world.tenant_a1, name="Alpha", store="alpha", orders=2, customers=2)
        a.stage_orders()
        fault_profile_set(system="xero", account=a.org["tenant_id"], throttle_rate=1.0)
        report = _drain(a, client_factory=a.client_factory(max_attempts=1))
        assert report.retrying > 0
        assert set(SyncJob.objects.values_list("attempts", flat=True)) == {0}
        assert SyncJob.objects.filter(next_attempt_at__gt=timezone.now()).exists()


def test_errors_retry_on_the_schedule_then_become_dead_letters(world):
    with tenant_scope(world.tenant_a1):
        a = World(world.tenant_a1, name="Alpha", store="alpha", orders=1, customers=1)
        a.stage_orders()
        fault_profile_set(system="xero", account=a.org["tenant_id"], error_rate=1.0)
        for _ in range(8):
            a.due_now()
            _drain(a, client_factory=a.client_factory(max_attempts=1))
        job = SyncJob.objects.get(entity="contact")
        assert job.state == State.DEAD and job.attempts == 8
        assert "Gave up after 7 retries" in job.cause
        assert AuditEntry.objects.filter(job=job, outcome=AuditEntry.Outcome.RETRY).count() == 7


def test_one_drain_per_connection(world):
    with tenant_scope(world.tenant_a1):
        a = World(world.tenant_a1, name="Alpha", store="alpha", orders=2)
        a.stage_orders()
        assert drain_lease_acquire(xero_connection=a.xero, holder="another-host")
        report = _drain(a)
        assert report.busy and SyncJob.objects.filter(state=State.DONE).count() == 0


def _taken_over_while_preparing(monkeypatch, world, *, then):
    """The drain's first prepared batch meets a pause longer than its lease: the lease runs out, and `then()` is
    what another host does meanwhile. Returns the calls to Xero's batch writes, as (entity, elements)."""
    calls, paused = [], []
    prepare, save_batch = drain._prepare_batch, accounting.save_batch

    def pausing(*args, **kwargs):
        prepared = prepare(*args, **kwargs)
        if not paused:
            paused.append(True)
            DrainLease.objects.filter(xero_connection=world.xero).update(
                expires_at=timezone.now() - timedelta(seconds=1)
            )
            then()
        return prepared

    def counting(client, entity, payloads, **kwargs):
        calls.append((entity, len(payloads)))
        return save_batch(client, entity, payloads, **kwargs)

    monkeypatch.setattr(drain, "_prepare_batch", pausing)
    monkeypatch.setattr(accounting, "save_batch", counting)
    return calls


def test_a_batch_another_drain_sent_while_this_one_paused_is_not_sent_again(world, monkeypatch):
    with tenant_scope(world.tenant_a1):
        a = World(world.tenant_a1, name="Alpha", store="alpha", orders=4, customers=3)
        staged = a.stage_orders()
    with tenant_scope(world.tenant_b1):
        b = World(world.tenant_b1, name="Beta", store="beta", orders=2)
        b_jobs = b.stage_orders()
    other = []
    calls = _taken_over_while_preparing(monkeypatch, a, then=lambda: other.append(_drain(a)))
    with tenant_scope(world.tenant_a1):
        report = _drain(a)

        # The other host's drain sent everything, the paused batch included; the paused drain sent nothing again.
        assert other[0].done == len(staged) and report.sent == 0
        assert sum(n for _, n in calls) == len(staged)
        assert SyncJob.objects.filter(state=State.DONE).count() == len(staged)
    numbers = list(
        XeroContact.objects.filter(org__tenant_id=a.org["tenant_id"], contact_number__startswith="T-").values_list(
            "contact_number", flat=True
        )
    )
    assert len(numbers) == len(set(numbers)) == 3
    assert _xero_invoices(a).count() == len(a.open_orders())
    with tenant_scope(world.tenant_b1):
        assert SyncJob.objects.filter(state=State.PENDING).count() == len(b_jobs)


def test_a_drain_whose_lease_was_taken_stops_and_leaves_the_rest_to_the_new_holder(world, monkeypatch, settings):
    # Renewed before every batch, so the lease's loss is seen at the next one.
    settings.SYNC_LEASE_SECONDS = 0
    with tenant_scope(world.tenant_a1):
        a = World(world.tenant_a1, name="Alpha", store="alpha", orders=60, customers=55)
        staged = a.stage_orders()
    calls = _taken_over_while_preparing(
        monkeypatch, a, then=lambda: drain_lease_acquire(xero_connection=a.xero, holder="another-host")
    )
    with tenant_scope(world.tenant_a1):
        report = _drain(a)

        # The batch it had prepared was still untouched, so it went; then the drain stopped.
        ((entity, sent),) = calls
        assert entity == "contact" and report.done == sent > 0
        assert SyncJob.objects.filter(state=State.PENDING).count() == len(staged) - sent > 0
        assert DrainLease.objects.get(xero_connection=a.xero).holder == "another-host"


def test_an_order_in_a_currency_xero_has_not_enabled_is_held_with_xeros_reason(world):
    with tenant_scope(world.tenant_a1):
        a = World(world.tenant_a1, name="Alpha", store="alpha", orders=30, customers=10, foreign_share=1.0)
        a.stage_orders()
        _drain(a)
        held = SyncJob.objects.filter(state=State.NEEDS_ATTENTION)
        assert held.exists()
        assert all("is not enabled for this organisation" in job.cause for job in held)


def test_an_order_cancelled_before_reaching_xero_sends_nothing(world):
    from dataclasses import replace

    from sync.services.staging import jobs_stage

    with tenant_scope(world.tenant_a1):
        a = World(world.tenant_a1, name="Alpha", store="alpha", orders=6, customers=2)
        order = a.open_orders()[0]
        jobs_stage(source_connection=a.source, entity="order", record=order)
        jobs_stage(source_connection=a.source, entity="order", record=replace(order, is_cancelled=True))
        invoice_job = SyncJob.objects.get(entity="invoice", operation=SyncJob.Operation.INVOICE_UPSERT)
        assert invoice_job.state == State.DISCARDED and "cancelled" in invoice_job.discard_reason
        void = SyncJob.objects.get(entity="invoice", operation=SyncJob.Operation.INVOICE_VOID)
        assert void.state == State.DISCARDED and "cancelled" in void.discard_reason
        _drain(a)
    assert _xero_invoices(a).count() == 0


def test_payments_and_refunds_of_an_order_cancelled_before_reaching_xero_are_never_sent(world):
    from dataclasses import replace
    from decimal import Decimal

    from connections.canonical import Payment, Refund
    from sync.services.staging import jobs_stage

    def payment(order, n):
        return Payment(f"pay-{n}", order.source_id, order.grand_total, order.currency, "card", timezone.now())

    def refund(order, n):
        amount = Decimal("1.00")
        return Refund(
            f"ref-{n}",
            order.source_id,
            f"R{n}",
            order.currency,
            (),
            amount,
            Decimal("0"),
            Decimal("0"),
            amount,
            timezone.now(),
        )

    with tenant_scope(world.tenant_b1):
        b = World(world.tenant_b1, name="Beta", store="beta", orders=3)
        b_order = b.open_orders()[0]
        jobs_stage(source_connection=b.source, entity="order", record=b_order)
        jobs_stage(source_connection=b.source, entity="payment", record=payment(b_order, 1))
    with tenant_scope(world.tenant_a1):
        a = World(world.tenant_a1, name="Alpha", store="alpha", orders=6, customers=2)
        order = a.open_orders()[0]
        jobs_stage(source_connection=a.source, entity="order", record=order)
        jobs_stage(source_connection=a.source, entity="payment", record=payment(order, 1))
        jobs_stage(source_connection=a.source, entity="refund", record=refund(order, 1))
        jobs_stage(source_connection=a.source, entity="order", record=replace(order, is_cancelled=True))
        # Reported after the cancellation: nothing to stage either.
        assert jobs_stage(source_connection=a.source, entity="payment", record=payment(order, 2)) == []
        assert jobs_stage(source_connection=a.source, entity="refund", record=refund(order, 2)) == []
        waiting = SyncJob.objects.exclude(entity="contact").exclude(state=State.DISCARDED)
        assert list(waiting.values_list("operation", "source_id")) == []
        _drain(a)
        assert _xero_invoices(a).count() == 0
    with tenant_scope(world.tenant_b1):
        # The other tenant's payment of its own order is untouched.
        assert list(SyncJob.objects.filter(entity="payment").values_list("source_id", "state")) == [
            ("pay-1", State.PENDING)
        ]


def test_payments_waiting_for_their_invoices_never_hide_the_invoices(world, monkeypatch):
    """Payments go first by priority; a window full of them waiting must not stop the invoices they wait for."""
    from sync.services import drain

    monkeypatch.setattr(drain, "CANDIDATES_PER_PASS", 3)
    with tenant_scope(world.tenant_a1):
        a = World(world.tenant_a1, name="Alpha", store="alpha", orders=8, customers=3)
        orders = a.open_orders()
        _payments_stage(a, orders)
        a.stage_orders()
        assert SyncJob.objects.filter(entity="payment").count() == len(orders) > 3

        def payments_too(jobs, **kwargs):
            from sync.models import CrossReference

            if jobs[0].entity != "payment":
                return simple_payloads(jobs, **kwargs)
            results = []
            for job in jobs:
                invoice = CrossReference.objects.get(entity="invoice", source_id=job.depends_on_source_id)
                record = drain.canonical_record(job)
                payload = {
                    "Invoice": {"InvoiceID": invoice.xero_id},
                    "Account": {"Code": "090"},
                    "Amount": record.amount,
                    "Date": record.paid_at.date().isoformat(),
                }
                results.append(Result(payload, ()))
            return results

        report = drain_run(xero_connection=a.xero, payload_builder=payments_too, client_factory=a.client_factory())
        assert report.by_operation.get("invoice.upsert") == len(orders)
        assert report.by_operation.get("payment.create") == len(orders)
        assert not SyncJob.objects.exclude(state=State.DONE).exists()


def test_a_window_of_waiting_payments_does_not_hide_a_ready_payment_behind_it(world, monkeypatch):
    """The window's rows all wait for their invoices and are moved aside; the ready payment beyond them, of the
    same priority, is the one chosen."""

    monkeypatch.setattr(drain, "CANDIDATES_PER_PASS", 3)
    with tenant_scope(world.tenant_a1):
        a = World(world.tenant_a1, name="Alpha", store="alpha", orders=4, customers=2)
        orders = a.open_orders()[:4]
        _payments_stage(a, orders)
        # Only the last order's invoice is in Xero.
        CrossReference.objects.create(
            tenant=world.tenant_a1,
            source_connection=a.source,
            entity="invoice",
            source_id=orders[-1].source_id,
            xero_id="inv-in-xero",
            source_version="1",
            payload_hash="-",
            synced_at=timezone.now(),
        )
        assert len(orders) == 4

        batch = drain._next_batch(a.xero)

        assert [job.source_id for job in batch] == [f"pay-{orders[-1].source_id}"]
        assert SyncJob.objects.filter(entity="payment", next_attempt_at__gt=timezone.now()).count() == 3


def test_a_batch_costs_the_same_number_of_queries_whatever_its_size(world):
    """Bookkeeping is per batch, not per record: a few contacts and thirty cost the same statements (ours and the
    simulated Xero's, which shares the connection in process)."""
    from django.db import connection as db
    from django.test.utils import CaptureQueriesContext

    counts, sent = {}, {}
    for tenant, name, customers in ((world.tenant_a1, "Alpha", 4), (world.tenant_b1, "Beta", 30)):
        with tenant_scope(tenant):
            w = World(tenant, name=name, store=name.lower(), orders=customers, customers=customers)
            staged = w.stage_orders()
            contacts = sum(job.entity == "contact" for job in staged)
            with CaptureQueriesContext(db) as queries:
                report = _drain(w, max_batches=1)
            assert report.by_operation == {SyncJob.Operation.CONTACT_UPSERT: contacts} and report.done == contacts
            # Left out: savepoints, and the simulator's rate-limit counters, which insert a row when a new minute
            # begins (that depends on the clock, not on the batch).
            counted = [
                q["sql"]
                for q in queries.captured_queries
                if not q["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT")) and "sandbox_ratecounter" not in q["sql"]
            ]
            counts[tenant.pk], sent[tenant.pk] = len(counted), contacts
    assert sent[world.tenant_a1.pk] < 10 and 25 < sent[world.tenant_b1.pk] <= 50
    assert counts[world.tenant_a1.pk] == counts[world.tenant_b1.pk]
    for tenant in (world.tenant_a1, world.tenant_b1):
        with tenant_scope(tenant):
            # Each drain wrote its own tenant's cross-references only.
            assert CrossReference.objects.count() == sent[tenant.pk]


def _pay_and_refund(w, *, paid, refunded) -> None:
    """The `paid` orders paid in full; the `refunded` ones (paid too) refunded 1.00: a credit note and the payment
    of the money going back."""
    from decimal import Decimal

    from connections.canonical import Payment, Refund

    now = timezone.now()
    for order in paid:
        payment = Payment(f"pay-{order.source_id}", order.source_id, order.grand_total, order.currency, "card", now)
        jobs_stage(source_connection=w.source, entity="payment", record=payment)
    for order in refunded:
        amount = Decimal("1.00")
        refund = Refund(
            f"ref-{order.source_id}", order.source_id, f"R{order.number}", order.currency, (), amount, 0, 0, amount, now
        )
        jobs_stage(source_connection=w.source, entity="refund", record=refund)


def test_credit_notes_and_payments_go_in_full_batches_and_a_lone_refund_still_goes(world):
    """What bench_sync counts: refunds and payments staged with their orders reach Xero in requests of 50, not
    one short request behind each batch of invoices; a tenant with a single refund gets it sent all the same."""
    with tenant_scope(world.tenant_a1):
        a = World(world.tenant_a1, name="Alpha", store="alpha", orders=140, customers=30)
        orders = a.open_orders()[:120]
        for order in orders:
            jobs_stage(source_connection=a.source, entity="order", record=order)
        # As in a shop: most orders paid, some not yet; every other one refunded after its payment.
        paid = [order for n, order in enumerate(orders) if n % 10 != 9]
        _pay_and_refund(a, paid=paid, refunded=orders[::2])
        contacts = SyncJob.objects.filter(entity="contact").count()
        assert SyncJob.objects.filter(operation="credit_note.create").count() == 60
        report = _drain(a)
        assert report.needs_attention == 0 and not SyncJob.objects.exclude(state=State.DONE).exists()
        assert report.by_operation["payment.create"] == 108 + 60
        assert report.requests_by_operation == {
            "contact.upsert": -(-contacts // 50),
            "invoice.upsert": 3,
            "credit_note.create": 2,
            "payment.create": 4,
        }
    with tenant_scope(world.tenant_b1):
        b = World(world.tenant_b1, name="Beta", store="beta", orders=3, customers=2)
        b.stage_orders()
        _pay_and_refund(b, paid=b.open_orders()[:1], refunded=b.open_orders()[:1])
        report = _drain(b)
        assert not SyncJob.objects.exclude(state__in=(State.DONE, State.DISCARDED)).exists()
        assert report.by_operation["credit_note.create"] == 1 and report.by_operation["payment.create"] == 2
        assert report.requests_by_operation["credit_note.create"] == 1
        assert report.requests_by_operation["payment.create"] == 1


def test_a_short_batch_of_refunds_yields_to_the_invoices_it_waits_for_only_for_a_bounded_time(world):
    """A refund ready to go waits while invoices that other refunds need are being sent, but not for long."""
    from datetime import timedelta

    from sync.services.drain import FILL_WAIT

    first_batches, rest = {}, {}
    for tenant, name, aged in ((world.tenant_a1, "Alpha", False), (world.tenant_b1, "Beta", True)):
        with tenant_scope(tenant):
            w = World(tenant, name=name, store=name.lower(), orders=90, customers=10)
            w.stage_orders()
            # The contacts and the first 50 invoices reach Xero; the other invoices are still pending.
            _drain(w, max_batches=2)
            invoiced = set(CrossReference.objects.filter(entity="invoice").values_list("source_id", flat=True))
            # One refund whose invoice is in Xero, five whose invoices are still to go.
            orders = [o for o in w.open_orders() if o.source_id in invoiced][:1]
            orders += [o for o in w.open_orders() if o.source_id not in invoiced][:5]
            _pay_and_refund(w, paid=orders, refunded=orders)
            if aged:
                # The refund whose invoice is in Xero has been ready for longer than a short batch may wait.
                SyncJob.objects.filter(source_id=f"ref-{orders[0].source_id}", entity="credit_note").update(
                    next_attempt_at=timezone.now() - FILL_WAIT - timedelta(seconds=1)
                )
            first_batches[name] = _drain(w, max_batches=1).by_operation
            rest[name] = _drain(w).requests_by_operation
            assert not SyncJob.objects.exclude(state__in=(State.DONE, State.DISCARDED)).exists()
    # Fresh: the invoices go first, then the six refunds in one request and the twelve payments in another.
    assert list(first_batches["Alpha"]) == ["invoice.upsert"]
    assert rest["Alpha"] == {"credit_note.create": 1, "payment.create": 1}
    # Waited long enough: the refund ready since then goes at once, on its own.
    assert first_batches["Beta"] == {"credit_note.create": 1}


def test_a_job_read_again_in_a_later_window_goes_once(world, monkeypatch):
    """The window after one cut short starts from where its last remaining row is now: a batch landing meanwhile
    can move that row earlier (it wakes the jobs waiting for what it sent), and the rows between were read again.
    A job read twice was sent twice in one request, so Xero would apply it twice; recording the answer then failed
    on the cross-reference's unique key (seen once in bench_sync --orders 5000, a credit note)."""
    from datetime import timedelta

    monkeypatch.setattr(drain, "CANDIDATES_PER_PASS", 3)
    with tenant_scope(world.tenant_a1):
        a = World(world.tenant_a1, name="Alpha", store="alpha", orders=3, customers=2)
        orders = a.open_orders()[:3]
        _payments_stage(a, orders)
        # The first two orders' invoices are in Xero, the third's is not: its payment is moved aside.
        for order in orders[:2]:
            CrossReference.objects.create(
                tenant=world.tenant_a1,
                source_connection=a.source,
                entity="invoice",
                source_id=order.source_id,
                xero_id=f"inv-{order.source_id}",
                source_version="1",
                payload_hash="-",
                synced_at=timezone.now(),
            )
        start = timezone.now() - timedelta(minutes=1)
        for i, order in enumerate(orders):
            SyncJob.objects.filter(source_id=f"pay-{order.source_id}").update(
                next_attempt_at=start + timedelta(seconds=i)
            )
        assert len(orders) == 3
        second = f"pay-{orders[1].source_id}"
        moved_aside = drain._wait_for_dependencies

        def and_meanwhile_the_second_row_moves_earlier(jobs):
            moved_aside(jobs)
            SyncJob.objects.filter(source_id=second).update(next_attempt_at=start - timedelta(seconds=1))

        monkeypatch.setattr(drain, "_wait_for_dependencies", and_meanwhile_the_second_row_moves_earlier)

        batch = drain._next_batch(a.xero)

        assert sorted(job.source_id for job in batch) == sorted(f"pay-{order.source_id}" for order in orders[:2])


def test_a_job_replaced_after_its_window_was_read_is_not_sent_from_the_kept_rows(world):
    """The drain chooses the next batches from the ready jobs a pass read and did not choose; one replaced by a
    newer version meanwhile (discarded) is not among them, nor is a job the first batch took."""
    with tenant_scope(world.tenant_a1):
        a = World(world.tenant_a1, name="Alpha", store="alpha", orders=250, customers=250)
        a.stage_orders()
        kept = drain.KeptWindow()
        first = drain._next_batch(a.xero, kept=kept)
        assert len(first) == 50 and {job.entity for job in first} == {"contact"}
        drain._mark_running(first)
        assert len(kept.ready) >= 50
        replaced = kept.ready[0]
        SyncJob.objects.filter(pk=replaced.pk).update(state=State.DISCARDED)

        second = drain._next_batch(a.xero, kept=kept)

        assert {job.entity for job in second} == {"contact"} and second
        assert replaced.pk not in {job.pk for job in second}
        assert not {job.pk for job in first} & {job.pk for job in second}


def test_a_window_of_full_batches_is_read_once_for_all_of_them(world, monkeypatch):
    """A pass reads up to CANDIDATES_PER_PASS due jobs: while the rows kept from it still make full batches, the
    next batches are chosen from them, however many, and the windows are not read again; each job goes once. The
    other tenant's jobs are never among them."""
    with tenant_scope(world.tenant_b1):
        World(world.tenant_b1, name="Beta", store="beta", orders=60, customers=60).stage_orders()
    with tenant_scope(world.tenant_a1):
        a = World(world.tenant_a1, name="Alpha", store="alpha", orders=420, customers=420)
        a.stage_orders()
        reads = []
        read = drain._candidates
        monkeypatch.setattr(drain, "_candidates", lambda *args, **kwargs: reads.append(1) or read(*args, **kwargs))
        kept = drain.KeptWindow()
        batches = [drain._next_batch(a.xero, kept=kept)]
        drain._mark_running(batches[0])
        reads.clear()

        for _ in range(5):
            batches.append(drain._next_batch(a.xero, kept=kept))
            drain._mark_running(batches[-1])

        assert reads == []
        assert [len(batch) for batch in batches] == [50] * 6
        assert {job.entity for batch in batches for job in batch} == {"contact"}
        sent = [job.pk for batch in batches for job in batch]
        assert SyncJob.objects.filter(pk__in=set(sent), tenant=world.tenant_a1).count() == len(sent) == 300


def test_a_run_reads_its_source_connection_once_for_all_its_batches(world):
    """Each batch's jobs carry their source connection (payloads name its mappings and tenant): a run of several
    batches reads it, with its tenant, once. Everything staged is sent, and nothing of the other tenant."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with tenant_scope(world.tenant_b1):
        other = World(world.tenant_b1, name="Beta", store="beta", orders=10, customers=10)
        other.stage_orders()
    with tenant_scope(world.tenant_a1):
        a = World(world.tenant_a1, name="Alpha", store="alpha", orders=120, customers=120)
        a.stage_orders()
        with CaptureQueriesContext(connection) as queries:
            report = _drain(a)

        sources_read = [
            q["sql"]
            for q in queries.captured_queries
            if 'FROM "connections_connection" INNER JOIN "tenants_tenant"' in q["sql"]
        ]
        assert report.batches >= 4 and report.done == report.sent > 0
        assert len(sources_read) == 1
        assert not SyncJob.objects.filter(
            tenant=world.tenant_a1, state=State.PENDING, operation="invoice.upsert"
        ).exists()
    with tenant_scope(world.tenant_b1):
        assert SyncJob.objects.filter(state=State.DONE).count() == 0
