import pytest
from django.utils import timezone

from core import bulk
from sync.models import SyncJob
from tenants.scoping import tenant_scope
from tests.factories import SyncJobFactory, TenantFactory


@pytest.mark.django_db
def test_rows_update_sets_each_rows_values_and_the_shared_ones_and_nothing_else():
    tenant_a, tenant_b = TenantFactory(), TenantFactory()
    with tenant_scope(tenant_a):
        jobs = [SyncJobFactory(tenant=tenant_a, cause="waiting", payload={"Name": f"A{n}"}) for n in range(3)]
    with tenant_scope(tenant_b):
        other = SyncJobFactory(tenant=tenant_b, cause="waiting", payload={"Name": "B"})
    finished = timezone.now()
    for n, job in enumerate(jobs[:2]):
        job.xero_id = f"xero-{n}"
    with tenant_scope(tenant_a):
        updated = bulk.rows_update(
            SyncJob,
            jobs[:2],
            ("xero_id",),
            same={"state": SyncJob.State.DONE, "finished_at": finished, "cause": "", "payload": None},
        )
        rows = list(SyncJob.objects.order_by("id").values_list("xero_id", "state", "finished_at", "cause", "payload"))
    assert updated == 2
    assert rows == [
        ("xero-0", "done", finished, "", None),
        ("xero-1", "done", finished, "", None),
        ("", "pending", None, "waiting", {"Name": "A2"}),
    ]
    with tenant_scope(tenant_b):
        assert SyncJob.objects.values_list("state", "cause", "payload").get(pk=other.pk) == (
            "pending",
            "waiting",
            {"Name": "B"},
        )


@pytest.mark.django_db
def test_rows_insert_stores_each_column_as_saving_the_row_would():
    from decimal import Decimal

    from sync.models import AuditEntry, Backfill

    tenant_a, tenant_b = TenantFactory(), TenantFactory()
    before = timezone.now()
    with tenant_scope(tenant_a):
        entries = [
            AuditEntry(
                tenant=tenant_a,
                entity="invoice",
                source_id=f"{n}",
                operation="invoice.upsert",
                outcome=AuditEntry.Outcome.CREATED,
                detail='a "quoted" \\ detail',
                request="just a string" if n else {"Total": "12.30", "Lines": [1, None]},
                response=bulk.JsonText('{"Id": "x"}') if n else None,
            )
            for n in range(2)
        ]
        assert bulk.rows_insert(AuditEntry, entries) == 2
        stored = list(
            AuditEntry.objects.order_by("source_id").values_list(
                "source_id", "detail", "request", "response", "created_at", "updated_at"
            )
        )
        backfill = Backfill(tenant=tenant_a, since=before, budget_share=Decimal("0.25"), entities=["orders"])
        bulk.rows_insert(Backfill, [backfill])
        assert Backfill.objects.values_list("budget_share", "entities", "report").get() == (
            Decimal("0.25"),
            ["orders"],
            {},
        )
    assert [row[:4] for row in stored] == [
        ("0", 'a "quoted" \\ detail', {"Total": "12.30", "Lines": [1, None]}, None),
        ("1", 'a "quoted" \\ detail', "just a string", {"Id": "x"}),
    ]
    # auto_now_add and auto_now: set as save() sets them.
    assert all(before <= row[4] <= row[5] <= timezone.now() for row in stored)
    with tenant_scope(tenant_b):
        assert not AuditEntry.objects.exists()
