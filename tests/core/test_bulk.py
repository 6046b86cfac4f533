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
