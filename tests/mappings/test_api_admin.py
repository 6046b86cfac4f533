"""Mappings through the API and Django admin: Xero choices as dropdowns, invalid choices refused, changes audited."""

import pytest
from django.urls import reverse

from connections.models import XeroReferenceData
from mappings.models import AccountRule, MappingSuggestion, PaymentAccountMapping, TaxMapping
from tenants.models import ActivityEntry
from tenants.scoping import tenant_scope
from tests.factories import ConnectionFactory
from tests.mappings.conftest import connect_xero, magento_source

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def json_api(api):
    api.default_format = "json"


@pytest.fixture
def au(world):
    """Tenant A1 with an AU Xero organisation and a Magento store; B1 with its own."""
    with tenant_scope(world.tenant_a1):
        connect_xero(world.tenant_a1, name="Api AU", country="AU")
        source = ConnectionFactory(tenant=world.tenant_a1, provider="magento", display_name="demo")
    with tenant_scope(world.tenant_b1):
        connect_xero(world.tenant_b1, name="Api B", country="AU")
        foreign = ConnectionFactory(tenant=world.tenant_b1, provider="magento", display_name="other")
    return source, foreign


def url(world, kind, pk=None):
    base = f"/api/v1/tenants/{world.tenant_a1.pk}/mappings/{kind}/"
    return f"{base}{pk}/" if pk else base


def edit_cache(tenant, kind, change):
    with tenant_scope(tenant):
        row = XeroReferenceData.objects.get(kind=kind)
        row.data = change(row.data)
        row.save()


def test_api_refuses_what_xero_would_refuse_with_a_clear_message(world, api, au):
    source, _ = au
    api.force_login(world.owner_a)

    archived = api.post(url(world, "posting-policies"), {"source_connection": source.pk, "sales_account_code": "299"})
    assert archived.status_code == 400
    assert "archived" in archived.json()["message"]
    assert (
        api.post(
            url(world, "posting-policies"), {"source_connection": source.pk, "sales_account_code": "200"}
        ).status_code
        == 201
    )

    pair = api.post(
        url(world, "taxes"), {"source_connection": source.pk, "tax_code": "AU-GST", "xero_tax_type": "INPUT"}
    )
    assert pair.status_code == 400
    assert "does not allow tax rate GST on Expenses (INPUT) on account 200 Sales" in pair.json()["message"]

    differs = api.post(
        url(world, "taxes"),
        {"source_connection": source.pk, "tax_code": "AU-GST", "source_percent": "9.5", "xero_tax_type": "OUTPUT"},
    )
    assert differs.status_code == 400 and "rate_override" in differs.json()["extra"]["fields"]

    not_payable = api.post(
        url(world, "payment-accounts"),
        {"source_connection": source.pk, "payment_method": "checkmo", "account_code": "200"},
    )
    assert not_payable.status_code == 400
    assert "cannot receive payments" in not_payable.json()["message"]
    clearing = api.post(
        url(world, "payment-accounts"),
        {"source_connection": source.pk, "payment_method": "braintree", "account_code": "615"},
    )
    assert clearing.status_code == 201, clearing.content

    for category, option in (("Region", "North"), ("Sales Channel", "Online")):
        made = api.post(
            url(world, "tracking"),
            {
                "source_connection": source.pk,
                "source_attribute": "store",
                "xero_category": category,
                "xero_option": option,
            },
        )
        assert made.status_code == 201, made.content
    # Even if Xero's cache listed a third active category, a line carries at most two.
    edit_cache(
        world.tenant_a1,
        "tracking_categories",
        lambda data: (
            data + [{"Name": "Project", "Status": "ACTIVE", "Options": [{"Name": "Alpha", "Status": "ACTIVE"}]}]
        ),
    )
    third = api.post(
        url(world, "tracking"),
        {
            "source_connection": source.pk,
            "source_attribute": "channel",
            "xero_category": "Project",
            "xero_option": "Alpha",
        },
    )
    assert third.status_code == 400
    assert "At most two tracking categories" in third.json()["message"]


def test_api_changes_are_audited_scoped_and_for_managers_only(world, api, au):
    source, foreign = au
    api.force_login(world.owner_a)
    made = api.post(
        url(world, "taxes"), {"source_connection": source.pk, "tax_code": "AU-GST", "xero_tax_type": "OUTPUT"}
    ).json()
    changed = api.patch(url(world, "taxes", made["id"]), {"xero_tax_type": "EXEMPTOUTPUT"})
    assert changed.status_code == 200, changed.content
    with tenant_scope(world.tenant_a1):
        entry = ActivityEntry.objects.filter(action="mapping.changed").get()
        assert entry.actor == "owner-a@example.com"
        assert (entry.before["xero_tax_type"], entry.after["xero_tax_type"]) == ("OUTPUT", "EXEMPTOUTPUT")
    # Another tenant's source connection cannot be named.
    other = api.post(url(world, "taxes"), {"source_connection": foreign.pk, "tax_code": "X", "xero_tax_type": "OUTPUT"})
    assert other.status_code == 400 and "source_connection" in other.json()["extra"]["fields"]

    api.force_login(world.member_a)
    assert api.get(url(world, "taxes")).json()["results"][0]["xero_tax_type"] == "EXEMPTOUTPUT"
    refused = api.patch(url(world, "taxes", made["id"]), {"xero_tax_type": "OUTPUT"})
    assert refused.status_code == 403
    assert api.delete(url(world, "taxes", made["id"])).status_code == 403

    api.force_login(world.owner_a)
    assert api.delete(url(world, "taxes", made["id"])).status_code == 204
    with tenant_scope(world.tenant_a1):
        assert not TaxMapping.objects.exists()
        assert ActivityEntry.objects.filter(action="mapping.deleted").get().before["tax_code"] == "AU-GST"


def test_health_suggestions_and_bulk_accept_by_api(world, api):
    with tenant_scope(world.tenant_a1):
        connect_xero(world.tenant_a1, name="Health GB", country="GB")
        source, _ = magento_source(world.tenant_a1, account="healthgb", currency="GBP", inclusive=False, orders=8)
    with tenant_scope(world.tenant_b1):
        connect_xero(world.tenant_b1, name="Health B", country="GB")
        magento_source(world.tenant_b1, account="healthb", currency="GBP", inclusive=False, orders=3)
    api.force_login(world.owner_a)
    health = api.get(url(world, "health")).json()
    assert health["ok"] is False
    assert any(g["code"] == "tax_unmapped" and "UK-VAT-20" in g["cause"] for g in health["gaps"])
    assert all(g["fix_url"] for g in health["gaps"])

    proposed = api.post(url(world, "suggestions") + "refresh/", {"source_connection": source.pk}).json()
    vat = next(p for p in proposed if p["key"] == "UK-VAT-20")
    assert vat["proposal"]["xero_tax_type"] == "OUTPUT2" and "same effective rate (20%)" in vat["reason"]
    assert api.get(url(world, "health")).json()["ok"] is False  # proposing changes nothing

    one = api.post(url(world, "suggestions", vat["id"]) + "accept/", {}, format="json")
    assert one.status_code == 200 and one.json()["status"] == "accepted"
    rest = api.post(url(world, "suggestions") + "bulk-accept/", {"all": True}, format="json").json()
    assert rest["accepted"] == len(proposed) - 1 and rest["refused"] == []
    assert api.get(url(world, "health")).json() == {"id": world.tenant_a1.pk, "ok": True, "gaps": []}
    with tenant_scope(world.tenant_b1):
        assert not MappingSuggestion.objects.exists()
    assert api.get(f"/api/v1/tenants/{world.tenant_b1.pk}/mappings/health/").status_code == 404


def test_admin_offers_xero_dropdowns_and_refuses_invalid_choices(world, client, au):
    source, _ = au
    client.force_login(world.owner_a)
    add = reverse("admin:mappings_taxmapping_add") + f"?source_connection={source.pk}&tax_code=AU-GST"
    page = client.get(add)
    html = page.content.decode()
    assert '<select name="xero_tax_type"' in html
    assert "GST on Income (OUTPUT) 10%" in html and "Api B" not in html

    refused = client.post(
        reverse("admin:mappings_paymentaccountmapping_add"),
        {"source_connection": source.pk, "payment_method": "checkmo", "currency": "", "account_code": "200"},
    )
    assert refused.status_code == 200  # the form again, with the reason
    assert "Select a valid choice" in refused.content.decode()  # only payment accounts are offered
    assert '<option value="200"' not in refused.content.decode()

    saved = client.post(
        reverse("admin:mappings_paymentaccountmapping_add"),
        {"source_connection": source.pk, "payment_method": "checkmo", "currency": "", "account_code": "090"},
    )
    assert saved.status_code == 302
    with tenant_scope(world.tenant_a1):
        assert PaymentAccountMapping.objects.get().account_code == "090"
        assert ActivityEntry.objects.get(action="mapping.created").actor == "owner-a@example.com"
        rule = AccountRule.objects.create(
            tenant=world.tenant_a1, name="Services", category="Services", account_code="200"
        )
        TaxMapping.objects.create(
            tenant=world.tenant_a1, source_connection=source, tax_code="AU-GST", xero_tax_type="OUTPUT"
        )

    # 200 is archived in Xero after it was mapped: saving the rule now says why.
    edit_cache(
        world.tenant_a1,
        "accounts",
        lambda data: [{**a, "Status": "ARCHIVED"} if a["Code"] == "200" else a for a in data],
    )
    change = reverse("admin:mappings_accountrule_change", args=[rule.pk])
    assert "200 (not offered by Xero now)" in client.get(change).content.decode()
    form = {
        "tenant": world.tenant_a1.pk,
        "source_connection": "",
        "position": 100,
        "name": "Services",
        "category": "Services",
        "sku_pattern": "",
        "product_type": "",
        "store": "",
        "channel": "",
        "customer_group": "",
        "account_code": "200",
        "is_active": "on",
    }
    archived = client.post(change, form)
    assert archived.status_code == 200
    assert "is archived in Xero" in archived.content.decode()

    # An expense-only tax rate on the sales account rule is refused too.
    edit_cache(world.tenant_a1, "accounts", lambda data: [{**a, "Status": "ACTIVE"} for a in data])
    with tenant_scope(world.tenant_a1):
        TaxMapping.objects.filter(tax_code="AU-GST").update(xero_tax_type="INPUT")
    pair = client.post(change, form)
    assert "does not allow tax rate GST on Expenses (INPUT)" in pair.content.decode()
