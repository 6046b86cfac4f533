"""The mappings a batch is built from: read again only when a row changed, and every change is seen by the next
batch (a save, a bulk update, a delete), tenant by tenant."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from mappings.cache import mapping_cache
from mappings.models import TaxMapping
from mappings.rules import MappingSet
from tenants.scoping import tenant_scope
from tests.factories import ConnectionFactory, TaxMappingFactory, TenantFactory

pytestmark = pytest.mark.django_db


def _taxes(source) -> dict[str, str]:
    """The tax mappings the next batch would use, read as a batch reads them (its own mapping_cache block)."""
    with tenant_scope(source.tenant_id), mapping_cache():
        return {code: m.xero_tax_type for code, m in MappingSet.load(source).taxes.items()}


@pytest.fixture
def two_tenants():
    sources = []
    for name in ("north", "south"):
        tenant = TenantFactory(name=name)
        with tenant_scope(tenant):
            source = ConnectionFactory(tenant=tenant, provider="magento")
            TaxMappingFactory(tenant=tenant, source_connection=source, tax_code="GST", xero_tax_type=f"{name}-10")
        sources.append(source)
    return sources


def test_each_change_is_seen_by_the_next_batch(two_tenants):
    north, south = two_tenants
    assert _taxes(north) == {"GST": "north-10"}

    with tenant_scope(north.tenant_id):
        mapping = TaxMapping.objects.get(source_connection=north)
        mapping.xero_tax_type = "OUTPUT2"
        mapping.save()
    assert _taxes(north) == {"GST": "OUTPUT2"}

    with tenant_scope(north.tenant_id):
        TaxMapping.objects.filter(source_connection=north).update(xero_tax_type="OUTPUT3")
    assert _taxes(north) == {"GST": "OUTPUT3"}

    with tenant_scope(north.tenant_id):
        TaxMappingFactory(tenant=north.tenant, source_connection=north, tax_code="FREE", xero_tax_type="EXEMPT")
    assert _taxes(north) == {"GST": "OUTPUT3", "FREE": "EXEMPT"}

    with tenant_scope(north.tenant_id):
        TaxMapping.objects.filter(source_connection=north, tax_code="GST").delete()
    assert _taxes(north) == {"FREE": "EXEMPT"}

    assert _taxes(south) == {"GST": "south-10"}  # the other tenant's mappings, untouched


def test_unchanged_mappings_are_not_read_again(two_tenants, is_postgres):
    if not is_postgres:
        pytest.skip("the fingerprint reads PostgreSQL's row versions; elsewhere every batch reads the mappings")
    north, south = two_tenants
    _taxes(north)
    with CaptureQueriesContext(connection) as queries:
        assert _taxes(north) == {"GST": "north-10"}
    assert len(queries) == 1  # the fingerprint, not the nine reads

    with tenant_scope(south.tenant_id):
        TaxMapping.objects.filter(source_connection=south).update(xero_tax_type="changed")
    with CaptureQueriesContext(connection) as queries:
        assert _taxes(north) == {"GST": "north-10"}
    assert len(queries) == 1  # another tenant's change costs this one nothing
