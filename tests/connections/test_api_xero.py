"""The connection API's Xero endpoints: authorize, test, refresh-reference, reference."""

from urllib.parse import parse_qs, urlsplit

import pytest

from connections import crypto
from connections.models import Connection
from connections.providers.xero.reference import xero_reference_refresh
from sandbox.xero.services.orgs import organisation_setup
from tenants import services as tenant_services
from tenants.scoping import tenant_scope
from tests.connections.test_xero_oauth import _local, configure_sandbox_xero, consent_at_xero
from tests.sandbox_world import xero_client, xero_connection_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def sandbox_xero(settings):
    configure_sandbox_xero(settings)


def _base(tenant):
    return f"/api/v1/tenants/{tenant.pk}/connections/"


@pytest.fixture
def connected(world, sandbox_xero):
    """Tenant A1 on an AU organisation and tenant B1 on a GB one, both with reference data cached."""
    out = {}
    for key, tenant, name, country in (
        ("a", world.tenant_a1, "Alpha AU", "AU"),
        ("b", world.tenant_b1, "Beta GB", "GB"),
    ):
        with tenant_scope(tenant):
            connection, org = xero_connection_for(tenant, name=name, country=country)
            xero_reference_refresh(connection=connection, client=xero_client(connection))
        out[key] = (connection, org)
    return out


def test_authorize_returns_xeros_url_and_the_browser_can_finish(world, api, sandbox_xero):
    alpha, _ = organisation_setup(name="Alpha Traders", country="AU")
    api.force_login(world.owner_a)
    response = api.post(_base(world.tenant_a1) + "xero/authorize/", {}, format="json")
    assert response.status_code == 200
    url = response.json()["authorize_url"]
    assert url.startswith("http://testserver/sandbox/xero/identity/connect/authorize?")
    assert parse_qs(urlsplit(url).query)["code_challenge_method"] == ["S256"]

    # The same browser session follows it through Xero and back.
    back = consent_at_xero(api, url, organisations=[alpha])
    choose = api.get(_local(back))
    assert choose.status_code == 302
    assert api.post(choose["Location"], {"xero_tenant_id": str(alpha.tenant_id)}).status_code == 302
    with tenant_scope(world.tenant_a1):
        assert Connection.objects.get(provider="xero").status == Connection.Status.ACTIVE


def test_authorize_is_for_signed_in_admins_of_the_tenant(world, api, sandbox_xero):
    _, key = tenant_services.api_key_create(agency=world.agency_a, name="ops")
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert api.post(_base(world.tenant_a1) + "xero/authorize/", {}, format="json").status_code == 403
    api.credentials()
    api.force_login(world.member_a)
    assert api.post(_base(world.tenant_a1) + "xero/authorize/", {}, format="json").status_code == 403
    api.force_login(world.owner_a)
    assert api.post(_base(world.tenant_b1) + "xero/authorize/", {}, format="json").status_code == 404
    refused = api.post(_base(world.tenant_a1) + "xero/authorize/", {"scope": "everything"}, format="json")
    assert refused.status_code == 400 and "scope" in refused.json()["extra"]["fields"]


def test_reference_summary_for_mapping_screens(world, api, connected):
    connection, _ = connected["a"]
    api.force_login(world.member_a)  # reading the settings is open to members of the tenant
    response = api.get(_base(world.tenant_a1) + f"{connection.pk}/reference/")
    assert response.status_code == 200
    body = response.json()
    assert body["organisation"] == {"name": "Alpha AU", "country": "AU", "base_currency": "AUD"}
    gst = next(rate for rate in body["tax_rates"] if rate["tax_type"] == "OUTPUT")
    assert gst["effective_rate"] == "10.0000"
    assert any(account["type"] == "BANK" for account in body["accounts"])
    assert all(category["options"] for category in body["tracking_categories"])
    assert {"code": "AUD", "description": "Australian Dollar"} in body["currencies"]
    assert body["fetched_at"]
    # B's Xero organisation is not reachable from A, even with B's connection id.
    other, _ = connected["b"]
    assert api.get(_base(world.tenant_a1) + f"{other.pk}/reference/").status_code == 404


def test_refresh_reference_returns_counts(world, api, connected):
    connection, _ = connected["a"]
    api.force_login(world.owner_a)
    response = api.post(_base(world.tenant_a1) + f"{connection.pk}/refresh-reference/", {}, format="json")
    assert response.status_code == 200, response.content
    counts = response.json()
    assert counts["organisation"] == 1 and counts["tax_rates"] > 3 and counts["tracking_categories"] == 2
    api.force_login(world.member_a)
    denied = api.post(_base(world.tenant_a1) + f"{connection.pk}/refresh-reference/", {}, format="json")
    assert denied.status_code == 403


def test_refresh_reference_refuses_what_it_cannot_do(world, api, connected, connect):
    api.force_login(world.owner_a)
    magento = connect(world.tenant_a1, "magento")
    not_xero = api.post(_base(world.tenant_a1) + f"{magento.pk}/refresh-reference/", {}, format="json")
    assert not_xero.status_code == 400 and not_xero.json()["code"] == "not_xero"
    assert api.get(_base(world.tenant_a1) + f"{magento.pk}/reference/").json()["code"] == "not_xero"
    connection, _ = connected["a"]
    with tenant_scope(world.tenant_a1):
        Connection.objects.filter(pk=connection.pk).update(status=Connection.Status.NEEDS_REAUTH)
    stale = api.post(_base(world.tenant_a1) + f"{connection.pk}/refresh-reference/", {}, format="json")
    assert stale.status_code == 400 and stale.json()["code"] == "connection_not_active"


def test_test_endpoint_reads_the_organisation_and_never_shows_a_secret(world, api, connected):
    connection, org = connected["a"]
    api.force_login(world.owner_a)
    response = api.post(_base(world.tenant_a1) + f"{connection.pk}/test/", {}, format="json")
    assert response.status_code == 200
    assert response.json() == {"ok": True, "message": "Connected to Alpha AU (AUD)."}
    for path in ("", f"{connection.pk}/", f"{connection.pk}/reference/"):
        text = api.get(_base(world.tenant_a1) + path).content.decode()
        for secret in crypto.credentials_read(connection).values():
            assert len(secret) < 12 or secret not in text, path
        assert org["refresh_token"] not in text


def test_test_endpoint_says_when_xero_refuses(world, api, connected):
    from sandbox.xero.models import AccessToken, RefreshToken

    connection, org = connected["a"]
    # Xero forgot every token of this consent (the user removed the app there).
    AccessToken.objects.filter(token=org["access_token"]).delete()
    RefreshToken.objects.filter(token=org["refresh_token"]).update(revoked_at="2026-01-01T00:00:00Z")
    api.force_login(world.owner_a)
    body = api.post(_base(world.tenant_a1) + f"{connection.pk}/test/", {}, format="json").json()
    assert body["ok"] is False and "Reconnect Xero" in body["message"]
    with tenant_scope(world.tenant_a1):
        assert Connection.objects.get(pk=connection.pk).status == Connection.Status.NEEDS_REAUTH
    with tenant_scope(world.tenant_b1):
        assert Connection.objects.get(pk=connected["b"][0].pk).status == Connection.Status.ACTIVE


def test_the_admin_block_shows_the_cached_settings_of_that_connection_only(world, connected):
    from connections.providers.xero.reference import xero_reference_admin_html

    connection, _ = connected["a"]
    with tenant_scope(world.tenant_a1):
        html = str(xero_reference_admin_html(connection=connection))
    assert "Alpha AU" in html and "OUTPUT GST on Income (10.0000%)" in html and "AUD" in html
    assert "Beta GB" not in html and "VAT" not in html
