import pytest
from django.db import connection
from psycopg.adapt import PyFormat
from psycopg.types.array import ListDumper

from core.postgres_arrays import FastListDumper
from sync.models import AuditEntry
from tenants.scoping import tenant_scope
from tests.factories import TenantFactory

TRICKY = {
    "Name": 'Jane "JD" O\'Brien \\ Sons',
    "LineItems": [{"Description": 'Tea "Earl Grey" 50\\50 {blend}, 2 × 100 g', "UnitAmount": "12.3400"}],
    "Empty": "",
    "Word": "NULL",
    "Missing": None,
    "Unicode": "Zoë ☕\u3000",
}


def test_fast_list_dumper_writes_the_same_array_literal_as_psycopg():
    values = [
        'say "hi"',
        "back\\slash",
        '\\"',
        "",
        "NULL",
        None,
        "plain",
        "with space",
        ["nested", 'a "b"', None],
        "{braces},commas",
    ]
    assert FastListDumper(list).dump(values) == ListDumper(list).dump(values)


@pytest.mark.django_db
def test_bulk_inserted_json_with_quotes_and_backslashes_reads_back_exactly():
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's array dumper")
    connection.ensure_connection()
    assert connection.connection.adapters.get_dumper(list, PyFormat.AUTO) is FastListDumper
    tenant_a, tenant_b = TenantFactory(), TenantFactory()
    for tenant, label in ((tenant_a, "A"), (tenant_b, "B")):
        with tenant_scope(tenant):
            AuditEntry.objects.bulk_create(
                AuditEntry(
                    tenant=tenant,
                    entity="invoice",
                    source_id=f'{label}-"{n}"\\',
                    operation="invoice.upsert",
                    outcome=AuditEntry.Outcome.CREATED,
                    request={**TRICKY, "Tenant": label, "N": n},
                    response=[TRICKY["Name"], n],
                )
                for n in range(3)
            )
    with tenant_scope(tenant_a):
        stored = list(AuditEntry.objects.order_by("id").values_list("source_id", "request", "response"))
    assert stored == [(f'A-"{n}"\\', {**TRICKY, "Tenant": "A", "N": n}, [TRICKY["Name"], n]) for n in range(3)]
