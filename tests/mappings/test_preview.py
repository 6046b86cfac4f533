"""The preview of a generated multi-line order shows every line's account, tax type, tracking and the rule."""

import pytest
from django.urls import reverse

from mappings.models import AccountRule, SampleRecord, TrackingMapping
from mappings.suggestions import suggestions_accept, suggestions_refresh
from tenants.scoping import tenant_scope
from tests.mappings.conftest import connect_xero, magento_source

pytestmark = pytest.mark.django_db


def test_preview_of_a_multi_line_order_in_api_and_admin(world, api, client):
    tenant = world.tenant_a1
    with tenant_scope(world.tenant_b1):
        connect_xero(world.tenant_b1, name="Preview B", country="AU")
        other_source, _ = magento_source(world.tenant_b1, account="prevb", currency="AUD", inclusive=False, orders=4)
    with tenant_scope(tenant):
        connect_xero(tenant, name="Preview AU", country="AU")
        source, orders = magento_source(tenant, account="prevau", currency="AUD", inclusive=False, orders=30)
        suggestions_accept(suggestions=suggestions_refresh(source_connection=source), actor="owner-a@example.com")
        order = next(o for o in orders if sum(1 for line in o.lines if line.kind == "product") >= 2)
        first_sku = next(line.sku for line in order.lines if line.kind == "product")
        AccountRule.objects.create(
            tenant=tenant, source_connection=source, name="Hero product", sku_pattern=first_sku, account_code="260"
        )
        TrackingMapping.objects.create(
            tenant=tenant,
            source_connection=source,
            source_attribute="store",
            source_value=order.store,
            xero_category="Region",
            xero_option="North",
        )

    api.force_login(world.owner_a)
    body = {"source_connection": source.pk, "source_id": order.source_id}
    preview = api.post(f"/api/v1/tenants/{tenant.pk}/mappings/preview/", body, format="json").json()
    assert preview["problems"] == []
    assert len(preview["lines"]) >= 3  # two products and shipping at least
    for line in preview["lines"]:
        assert line["account_code"] and line["tax_type"] and line["account_rule"] and line["tax_rule"]
        if line["kind"] != "rounding":
            assert line["tracking"] == [
                {"category": "Region", "option": "North", "rule": f"Store or store view {order.store} → Region"}
            ]
    hero = next(line for line in preview["lines"] if line["sku"] == first_sku)
    assert hero["account_code"] == "260" and hero["account_rule"].startswith("Hero product (sku_pattern")
    others = [line for line in preview["lines"] if line["kind"] == "product" and line["sku"] != first_sku]
    assert {line["account_rule"] for line in others} == {"posting policy: sales account"}
    shipping = next(line for line in preview["lines"] if line["kind"] == "shipping")
    assert shipping["account_code"] == "210" and "shipping account" in shipping["account_rule"]
    assert preview["payload"]["LineItems"][0]["Tracking"] == [{"Name": "Region", "Option": "North"}]
    assert preview["totals"]["source_total"] == str(order.grand_total)

    # Another tenant's source is invisible from here.
    other = api.post(
        f"/api/v1/tenants/{tenant.pk}/mappings/preview/",
        {"source_connection": other_source.pk, "source_id": order.source_id},
        format="json",
    )
    assert other.status_code == 404

    client.force_login(world.owner_a)
    with tenant_scope(tenant):
        sample = SampleRecord.objects.get(source_id=order.source_id)
    page = client.get(reverse("admin:mappings_samplerecord_preview", args=[sample.pk]))
    html = page.content.decode()
    assert page.status_code == 200
    assert "Hero product (sku_pattern" in html and "Region: North" in html and "OUTPUT" in html
    with tenant_scope(world.tenant_b1):
        foreign = SampleRecord.objects.filter(source_connection=other_source).first()
    assert client.get(reverse("admin:mappings_samplerecord_preview", args=[foreign.pk])).status_code == 404


def test_field_transforms_preview_on_a_recent_record_and_shape_the_invoice(world, api):
    with tenant_scope(world.tenant_a1):
        connect_xero(world.tenant_a1, name="Transform AU", country="AU")
        source, orders = magento_source(world.tenant_a1, account="xformau", currency="AUD", inclusive=False, orders=6)
        suggestions_accept(suggestions=suggestions_refresh(source_connection=source), actor="owner-a@example.com")
        newest = SampleRecord.objects.order_by("-seen_at", "-id").first()
    api.force_login(world.owner_a)
    base = f"/api/v1/tenants/{world.tenant_a1.pk}/mappings/field-transforms/"
    fields = {"source_connection": source.pk, "source_field": "number", "target": "invoice_reference"}
    bad = api.post(base, {**fields, "transform": "template", "argument": "no placeholder"}, format="json")
    assert bad.status_code == 400 and "{value}" in bad.json()["message"]
    made = api.post(base, {**fields, "transform": "template", "argument": "Web order {value}"}, format="json")
    assert made.status_code == 201, made.content
    assert made.json()["preview"] == {
        "record": f"order {newest.label}",
        "value": newest.label,
        "result": f"Web order {newest.label}",
    }
    preview = api.post(
        f"/api/v1/tenants/{world.tenant_a1.pk}/mappings/preview/",
        {"source_connection": source.pk, "source_id": orders[0].source_id},
        format="json",
    ).json()
    assert preview["payload"]["Reference"] == f"Web order {orders[0].number}"
