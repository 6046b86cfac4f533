"""What staging and a batch's payloads read of the tenant's earlier jobs is found through an index: the reads cost
the same whatever the number of jobs the tenant has."""

from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.fields import StoredJson
from sync.models import AuditEntry, CrossReference, SyncJob
from sync.services import drain
from sync.services.payloads import _dependency_ids, _InvoiceState
from sync.services.staging import jobs_stage
from tenants.scoping import tenant_scope
from tests.factories import ConnectionFactory
from tests.sync.engine_helpers import World, rows_read

pytestmark = [pytest.mark.django_db, pytest.mark.needs_postgres]
Op = SyncJob.Operation


def test_what_was_applied_to_an_invoice_is_read_from_its_own_payments(world):
    """Editing an invoice reads the payments we applied to it (what is still due); it used to read all of the
    tenant's jobs, then all of its audit entries, to find them, for every batch with an edited invoice in it."""
    with tenant_scope(world.tenant_a1):
        a = World(world.tenant_a1, name="Alpha", store="alpha", orders=4, customers=2)
        invoice = next(job for job in a.stage_orders() if job.operation == Op.INVOICE_UPSERT)
        now = timezone.now()
        SyncJob.objects.filter(pk=invoice.pk).update(state=SyncJob.State.DONE, finished_at=now)
        xref = CrossReference.objects.create(
            tenant=world.tenant_a1,
            source_connection=a.source,
            entity="invoice",
            source_id=invoice.source_id,
            xero_id="inv-1",
            source_version=invoice.source_version,
            payload_hash="-",
            synced_at=now,
        )

        # 3,000 payments of other orders, done, and one of this order's.
        jobs = SyncJob.objects.bulk_create(
            [_done_payment(a, i, f"order-{i}", now) for i in range(3000)]
            + [_done_payment(a, 3000, invoice.source_id, now)]
        )
        with connection.cursor() as cursor:
            # Statistics from before they reached Xero, as the drain's refresh may leave them.
            cursor.execute("ANALYZE sync_syncjob, sync_auditentry")
        # What each of them sent to Xero.
        AuditEntry.objects.bulk_create(
            AuditEntry(
                tenant=world.tenant_a1,
                job=job,
                entity="payment",
                source_id=job.source_id,
                operation=Op.PAYMENT_CREATE,
                outcome=AuditEntry.Outcome.CREATED,
                request={"Amount": 12.5},
            )
            for job in jobs
        )
        with connection.cursor() as cursor:
            # As the drain's refresh (core.statistics) leaves the tables its batches write to.
            cursor.execute("ANALYZE " + ", ".join(model._meta.db_table for model in drain.BATCH_TABLES))
        with CaptureQueriesContext(connection) as queries:
            state = _InvoiceState([invoice], {invoice.source_id: xref})

        assert state.applied(invoice, invoice.source_id) == Decimal("12.5")
        reads = [q["sql"] for q in queries.captured_queries if "sync_syncjob" in q["sql"]]
        assert len(reads) >= 3  # the invoice, what was applied to it, how it was paid
        for sql in reads:
            assert rows_read(sql, "sync_syncjob") <= 10, sql
            # The audit entries too: read in the order of their time, they were all read to find this job's.
            assert rows_read(sql, "sync_auditentry") <= 10, sql


def _done_payment(w: World, i: int, order_id: str, now) -> SyncJob:
    return SyncJob(
        tenant=w.tenant,
        source_connection=w.source,
        xero_connection=w.xero,
        operation=Op.PAYMENT_CREATE,
        entity="payment",
        source_id=f"{i}",
        source_version="1",
        idempotency_key=f"pay-{i}",
        record={"entity": "payment", "data": {}},
        depends_on_entity="invoice",
        depends_on_source_id=order_id,
        state=SyncJob.State.DONE,
        next_attempt_at=now,
        finished_at=now,
    )


def test_staging_reads_the_jobs_of_its_own_records(world):
    """Staging a change reads the jobs and cross-references of the records it stages, by entity and source id: read
    by source id alone, it read every job of the tenant (a payment and an order may share a source id)."""
    with tenant_scope(world.tenant_a1):
        a = World(world.tenant_a1, name="Alpha", store="alpha", orders=4, customers=2)
        order = a.open_orders()[0]
        now = timezone.now()
        # 3,000 payments done, whose source ids are the orders' (Magento numbers both from 1).
        SyncJob.objects.bulk_create(_done_payment(a, i, f"order-{i}", now) for i in range(3000))
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE sync_syncjob, sync_crossreference")
        with CaptureQueriesContext(connection) as queries:
            staged = jobs_stage(source_connection=a.source, entity="order", record=order)

        assert {job.operation for job in staged} == {Op.CONTACT_UPSERT, Op.INVOICE_UPSERT}
        reads = [
            q["sql"] for q in queries.captured_queries if q["sql"].startswith("SELECT") and "sync_syncjob" in q["sql"]
        ]
        assert reads
        for sql in reads:
            assert rows_read(sql, "sync_syncjob") <= 10, sql


def test_a_batch_reads_by_the_same_statements_whatever_its_size(world):
    """What a batch's payloads read of earlier jobs goes by one array of ids per statement, not an IN list of one
    parameter per id: every batch then sends the same few texts, which the database connection prepares once and
    psycopg caches once, where each batch size made new ones (filling those caches as a drain ran on)."""
    with tenant_scope(world.tenant_a1):
        a = World(world.tenant_a1, name="Alpha", store="alpha", orders=4, customers=2)
        invoices = [job for job in a.stage_orders() if job.operation == Op.INVOICE_UPSERT][:3]
        now = timezone.now()
        SyncJob.objects.filter(pk__any=[job.pk for job in invoices]).update(state=SyncJob.State.DONE, finished_at=now)
        xrefs = {
            job.source_id: CrossReference.objects.create(
                tenant=world.tenant_a1,
                source_connection=a.source,
                entity="invoice",
                source_id=job.source_id,
                xero_id=f"inv-{job.pk}",
                source_version=job.source_version,
                payload_hash="-",
                synced_at=now,
            )
            for job in invoices
        }

        def statements(jobs: list[SyncJob]) -> list[str]:
            sent = []

            def keep(execute, sql, params, many, context):
                sent.append(sql)
                return execute(sql, params, many, context)

            with connection.execute_wrapper(keep):
                _InvoiceState(jobs, xrefs)
                _dependency_ids(jobs)
            return sent

        assert len(invoices) == 3
        one, three = statements(invoices[:1]), statements(invoices)
        assert len(one) >= 5  # the invoices, what was sent, what was applied, payments, cross-references, contacts
        assert one == three


def test_a_batchs_cross_references_are_read_within_its_own_tenant(world):
    """Each batch reads its records' cross-references and its dependencies' Xero ids by plain statements
    (drain.cross_references, drain.cross_reference_ids) rather than scoped ORM queries: each is filtered by the
    batch's tenant, so another tenant's records are never read, whatever connections and ids it is given."""
    now = timezone.now()
    sources = {}
    for tenant in (world.tenant_a1, world.tenant_b1):
        with tenant_scope(tenant):
            sources[tenant.pk] = ConnectionFactory(tenant=tenant, provider="magento")
            CrossReference.objects.create(
                tenant=tenant,
                source_connection=sources[tenant.pk],
                entity="invoice",
                source_id="100",
                xero_id=f"inv-{tenant.pk}",
                source_version="1",
                payload_hash="-",
                synced_values={"xero": {"name": "Jane"}},
                synced_at=now,
            )
    both = set(sources.values())
    with tenant_scope(world.tenant_a1):
        tenant_a = world.tenant_a1.pk
        found = drain.cross_references(tenant_a, {s.pk for s in both}, "invoice", ["100", "101"])
        ids = drain.cross_reference_ids(tenant_a, {s.pk for s in both}, "invoice", ["100", "101"])

        assert [(x.tenant_id, x.source_connection_id, x.xero_id) for x in found] == [
            (tenant_a, sources[tenant_a].pk, f"inv-{tenant_a}")
        ]
        # Whole rows as the ORM reads them: a stored instance, its JSON decoded.
        assert found[0] == CrossReference.objects.get(source_id="100")
        assert found[0].synced_values == {"xero": {"name": "Jane"}} and not found[0]._state.adding
        assert ids == [("100", f"inv-{tenant_a}")]
        assert drain.cross_references(tenant_a, {sources[tenant_a].pk}, "contact", ["100"]) == []


def test_a_batch_holds_its_records_as_stored_until_each_is_used(world):
    """The drain reads a batch's jobs with each canonical record as its stored text (core.fields.StoredJson), decoded
    only where it is used: 50 invoices' records decoded at once were the largest thing it held while building a
    batch. What each use sees is the staged record itself; a job read so is never saved with its record as text."""
    with tenant_scope(world.tenant_a1):
        World(world.tenant_a1, name="Alpha", store="alpha", orders=3, customers=2).stage_orders()
        mine = sorted(SyncJob.objects.values_list("pk", flat=True))
    with tenant_scope(world.tenant_b1):
        World(world.tenant_b1, name="Beta", store="beta", orders=3, customers=2).stage_orders()
        theirs = list(SyncJob.objects.values_list("pk", flat=True))
    assert mine and theirs

    with tenant_scope(world.tenant_a1):
        batch = drain._load(world.tenant_a1.pk, mine + theirs, timezone.now())

        assert sorted(job.pk for job in batch) == mine  # another tenant's are not read
        for job in batch:
            assert isinstance(job.record, StoredJson)
            as_staged = SyncJob.objects.get(pk=job.pk)
            assert drain.record_document(job) == as_staged.record
            assert drain.canonical_record(job) == drain.canonical_record(as_staged)
        with pytest.raises(TypeError), transaction.atomic():
            batch[0].save(update_fields=["record"])
        assert SyncJob.objects.get(pk=batch[0].pk).record == drain.record_document(batch[0])
