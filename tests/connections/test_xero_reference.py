from decimal import Decimal

import pytest

from connections.models import XeroReferenceData
from connections.providers.xero.reference import xero_reference_get, xero_reference_refresh
from core.money import from_json_number
from tenants.scoping import tenant_scope
from tests.sandbox_world import xero_client, xero_connection_for

pytestmark = pytest.mark.django_db


def test_reference_data_is_fetched_and_cached_per_connection(world):
    with tenant_scope(world.tenant_a1):
        au, _ = xero_connection_for(world.tenant_a1, name="Alpha AU", country="AU")
        counts = xero_reference_refresh(connection=au, client=xero_client(au))
    with tenant_scope(world.tenant_b1):
        gb, _ = xero_connection_for(world.tenant_b1, name="Beta GB", country="GB")
        xero_reference_refresh(connection=gb, client=xero_client(gb))

    assert counts["organisation"] == 1 and counts["tax_rates"] > 3 and counts["accounts"] > 5
    with tenant_scope(world.tenant_a1):
        reference = xero_reference_get(connection=au)
        assert reference.organisation["Name"] == "Alpha AU"
        assert from_json_number(reference.tax_rate("OUTPUT")["EffectiveRate"]) == Decimal("10")
        assert any(a["Type"] == "BANK" for a in reference.active_accounts())
        assert len(reference.active_tracking_categories()) == 2
        # Only this tenant's cache is visible in its scope.
        assert XeroReferenceData.objects.count() == len(XeroReferenceData.Kind)
    with tenant_scope(world.tenant_b1):
        assert xero_reference_get(connection=gb).tax_rate("OUTPUT2") is not None
        assert xero_reference_get(connection=gb).tax_rate("OUTPUT") is None


def test_refreshing_replaces_the_cache(world):
    with tenant_scope(world.tenant_a1):
        au, _ = xero_connection_for(world.tenant_a1, name="Alpha AU", country="AU")
        xero_reference_refresh(connection=au, client=xero_client(au))
        first = xero_reference_get(connection=au).fetched_at
        xero_reference_refresh(connection=au, client=xero_client(au))
        assert xero_reference_get(connection=au).fetched_at > first
        assert XeroReferenceData.objects.count() == len(XeroReferenceData.Kind)


def test_finders_answer_by_key_as_a_scan_of_the_lists_would():
    """An account, tax rate or tracking category is found by its code, type or name: the first entry with it, as
    Xero lists them; an unknown key finds nothing."""
    from connections.providers.xero.reference import XeroReference

    reference = XeroReference(
        organisation={},
        tax_rates=[{"TaxType": "OUTPUT", "Name": "GST"}, {"TaxType": "OUTPUT", "Name": "Old GST"}],
        accounts=[{"Code": "200", "Name": "Sales"}, {"Code": "400", "Name": "Fees"}, {"Code": "200", "Name": "Dup"}],
        tracking_categories=[{"Name": "Region", "Options": []}],
        currencies=[],
        items=[],
        contact_groups=[],
        fetched_at=None,
    )

    assert reference.account("200")["Name"] == "Sales"
    assert reference.account("400")["Name"] == "Fees"
    assert reference.account("999") is None
    assert reference.tax_rate("OUTPUT")["Name"] == "GST"
    assert reference.tax_rate("INPUT") is None
    assert reference.tracking_category("Region")["Options"] == []
    assert reference.tracking_category("Channel") is None
