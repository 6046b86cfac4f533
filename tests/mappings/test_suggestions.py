"""Accepting suggestions alone maps a tenant fully; health then reports no gap, and every invoice adds up in Xero."""

import pytest

from mappings.health import mapping_gaps
from mappings.models import MappingSuggestion, TaxMapping
from mappings.payloads import contact_payload, invoice_payload
from mappings.suggestions import suggestion_accept, suggestions_accept, suggestions_refresh
from tenants.models import ActivityEntry
from tenants.scoping import tenant_scope
from tests.mappings.conftest import cin7_source, connect_xero, gorgias_source, magento_source, post_to_xero
from tests.sandbox_world import xero_client

pytestmark = pytest.mark.django_db

CASES = [
    # Xero country, store currency, prices include tax, the tax type expected for the store's main rate
    ("AU", "AUD", True, "OUTPUT"),
    ("GB", "GBP", False, "OUTPUT2"),
    ("US", "USD", False, "TAX001"),
]


@pytest.mark.parametrize("country,currency,inclusive,main_tax", CASES)
def test_accepting_suggestions_maps_a_magento_store_fully(two_tenants, country, currency, inclusive, main_tax):
    tenant, other = two_tenants
    with tenant_scope(other):
        connect_xero(other, name=f"Elsewhere {country}", country=country)
        magento_source(other, account=f"else{country.lower()}", currency=currency, inclusive=inclusive, orders=5)
    with tenant_scope(tenant):
        xero = connect_xero(tenant, name=f"Suggest {country}", country=country)
        source, orders = magento_source(tenant, account=f"sug{country.lower()}", currency=currency, inclusive=inclusive)
        before = mapping_gaps(tenant=tenant)
        assert {p.code for p in before} >= {"tax_unmapped", "payment_account_unmapped", "account_unmapped"}
        assert all(p.fix_url.startswith("/admin/mappings/") for p in before)

        suggestions = suggestions_refresh(source_connection=source)
        assert all(s.reason for s in suggestions)
        assert not TaxMapping.objects.exists()  # nothing applied before acceptance
        outcome = suggestions_accept(suggestions=suggestions, actor="owner-a@example.com")
        assert outcome == {"accepted": len(suggestions), "refused": []}

        assert mapping_gaps(tenant=tenant) == []
        regime_main = {"AU": "AU-GST", "GB": "UK-VAT-20", "US": "US-CA-*-Rate 1"}[country]
        assert TaxMapping.objects.get(tax_code=regime_main).xero_tax_type == main_tax
        # One audit line per accepted suggestion (account slots create, then change, the posting policy).
        audited = ActivityEntry.objects.filter(tenant=tenant, action__startswith="mapping.")
        assert audited.count() == len(suggestions)
        assert {e.actor for e in audited} == {"owner-a@example.com"}

        contact = contact_payload(source_connection=source, xero_connection=xero, contact=orders[0].contact).payload
        contact_id = post_to_xero(xero, "Contacts", contact, unitdp=False)["ContactID"]
        for order in orders:
            result = invoice_payload(
                source_connection=source, xero_connection=xero, order=order, contact_xero_id=contact_id
            )
            assert result.ok, (order.number, result.problems)
            assert post_to_xero(xero, "Invoices", result.payload)["Total"] == order.grand_total
    with tenant_scope(other):
        # The other tenant saw none of it: its gaps are all still open.
        assert any(p.code == "tax_unmapped" for p in mapping_gaps(tenant=other))
        assert not MappingSuggestion.objects.exists()


def test_a_suggestion_is_refused_once_xero_no_longer_allows_it(two_tenants):
    tenant, _ = two_tenants
    with tenant_scope(tenant):
        connect_xero(tenant, name="Stale AU", country="AU")
        source, _ = magento_source(tenant, account="staleau", currency="AUD", inclusive=False, orders=5)
        suggestion = next(s for s in suggestions_refresh(source_connection=source) if s.kind == "account")
        suggestion.proposal = {**suggestion.proposal, "account_code": "299"}  # archived in the sandbox chart
        suggestion.save()
        with pytest.raises(Exception, match="archived"):
            suggestion_accept(suggestion=suggestion, actor="owner-a@example.com")
        suggestion.refresh_from_db()
        assert suggestion.status == "open"


SOURCES = {
    "cin7": lambda tenant, name: cin7_source(tenant, account=name),
    "gorgias": lambda tenant, name: gorgias_source(tenant, domain=name),
}


@pytest.mark.parametrize("kind", sorted(SOURCES))
@pytest.mark.parametrize("country", ["AU", "GB", "US"])
def test_accepting_suggestions_maps_cin7_and_gorgias_fully(two_tenants, kind, country):
    tenant, other = two_tenants
    with tenant_scope(other):
        connect_xero(other, name=f"Else {kind} {country}", country=country)
    with tenant_scope(tenant):
        xero = connect_xero(tenant, name=f"Suggest {kind} {country}", country=country)
        source, orders = SOURCES[kind](tenant, f"{kind}-{country.lower()}")
        assert any(p.code == "tax_unmapped" for p in mapping_gaps(tenant=tenant))
        suggestions = suggestions_refresh(source_connection=source)
        outcome = suggestions_accept(suggestions=suggestions, actor="owner-a@example.com", client=xero_client(xero))
        assert outcome["refused"] == [] and outcome["accepted"] == len(suggestions)
        assert mapping_gaps(tenant=tenant) == []
        contact = post_to_xero(xero, "Contacts", {"Name": f"{kind} customer"}, unitdp=False)["ContactID"]
        for order in orders:
            result = invoice_payload(
                source_connection=source, xero_connection=xero, order=order, contact_xero_id=contact
            )
            assert result.ok, (order.number, result.problems)
            assert post_to_xero(xero, "Invoices", result.payload)["Total"] == order.grand_total, order.number
    with tenant_scope(other):
        assert not TaxMapping.objects.exists()


def test_a_rate_xero_lacks_is_created_in_xero_only_when_accepted(two_tenants):
    tenant, _ = two_tenants
    with tenant_scope(tenant):
        xero = connect_xero(tenant, name="Create US", country="US")
        source, _ = gorgias_source(tenant, domain="create-us", orders=12)
        suggestion = next(s for s in suggestions_refresh(source_connection=source) if s.key == "State Tax 8.25%")
        assert "accepting creates “State Tax” at 8.25% in Xero" in suggestion.reason
        rates = xero_client(xero).get("TaxRates").json()["TaxRates"]
        assert not any(r["Name"] == "State Tax" for r in rates)
        mapping = suggestion_accept(suggestion=suggestion, actor="owner-a@example.com", client=xero_client(xero))
        created = next(r for r in xero_client(xero).get("TaxRates").json()["TaxRates"] if r["Name"] == "State Tax")
        assert mapping.xero_tax_type == created["TaxType"] and not mapping.rate_override
