import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from sync.models import SyncJob
from tenants.scoping import tenant_scope
from tests.factories import SyncJobFactory, TenantFactory

pytestmark = pytest.mark.django_db

TRICKY = ['a "quoted" one', "back\\slash", "{braces},commas", "with space", "NULL", "null", "", "Zoë ☕"]


def _jobs(tenant, ids):
    with tenant_scope(tenant):
        return [SyncJobFactory(tenant=tenant, source_id=source_id) for source_id in ids]


def test_any_finds_what_in_finds_and_nothing_of_another_tenant():
    mine, theirs = TenantFactory(), TenantFactory()
    jobs = _jobs(mine, [*TRICKY, "1", "2"])
    _jobs(theirs, TRICKY)
    wanted = [*TRICKY, "2", None, "missing"]
    with tenant_scope(mine):
        by_any = set(SyncJob.objects.filter(source_id__any=wanted).values_list("pk", flat=True))
        by_in = set(SyncJob.objects.filter(source_id__in=wanted).values_list("pk", flat=True))
        assert by_any == by_in == {job.pk for job in jobs if job.source_id != "1"}
        assert set(SyncJob.objects.filter(pk__any={jobs[0].pk, jobs[-1].pk}).values_list("source_id", flat=True)) == {
            TRICKY[0],
            "2",
        }
        assert list(SyncJob.objects.filter(pk__any=[])) == []
        assert list(SyncJob.objects.filter(source_id__any=[None])) == []


def test_any_sends_one_parameter_for_all_its_values():
    if connection.vendor != "postgresql":
        pytest.skip("other databases get IN")
    tenant = TenantFactory()
    with tenant_scope(tenant), CaptureQueriesContext(connection) as queries:
        list(SyncJob.objects.filter(pk__any=list(range(1, 300))))
    assert "= ANY(" in queries[0]["sql"] and " IN (" not in queries[0]["sql"]
