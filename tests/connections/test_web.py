"""The tenant's connections page, the API-key provider forms with "Test connection", and the home page columns."""

from datetime import timedelta

import pytest
from django.utils import timezone

from connections import crypto
from connections.models import Connection
from sandbox.magento.services import store_create
from tenants.scoping import tenant_scope
from tests.connections.test_xero_oauth import configure_sandbox_xero
from tests.sandbox_world import xero_connection_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def sandbox_xero(settings):
    configure_sandbox_xero(settings)


def _page(tenant):
    return f"/connections/tenants/{tenant.pk}/"


def _messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def _connections(tenant):
    with tenant_scope(tenant):
        return list(Connection.objects.filter(tenant=tenant).order_by("pk"))


def test_the_page_lists_status_and_last_activity_for_the_tenant_only(world, client, connect):
    shop = connect(world.tenant_a1, "magento", display_name="Alpha Shop")
    connect(world.tenant_a2, "magento", display_name="Second Tenant Shop")
    connect(world.tenant_b1, "magento", display_name="Other Agency Shop")
    with tenant_scope(world.tenant_a1):
        Connection.objects.filter(pk=shop.pk).update(last_activity_at=timezone.now() - timedelta(hours=3))
    client.force_login(world.owner_a)
    body = client.get(_page(world.tenant_a1)).content.decode()
    assert "Alpha Shop" in body and "Active" in body and "3\xa0hours ago" in body
    assert "Second Tenant Shop" not in body and "Other Agency Shop" not in body
    assert "Connect Xero" in body and "Connect Magento" in body and "Connect Cin7" in body
    assert "Connect Gorgias" in body
    # Stored secrets never come back into the page.
    assert crypto.credentials_read(shop)["access_token"] not in body


def test_pages_of_other_agencies_and_hidden_tenants_are_404(world, client):
    client.force_login(world.owner_b)
    assert client.get(_page(world.tenant_a1)).status_code == 404
    client.force_login(world.member_a)
    assert client.get(_page(world.tenant_a2)).status_code == 404
    assert client.get(_page(world.tenant_a1)).status_code == 200
    client.logout()
    assert client.get(_page(world.tenant_a1)).status_code == 302


def test_members_see_but_cannot_connect(world, client, sandbox_xero):
    client.force_login(world.member_a)
    body = client.get(_page(world.tenant_a1)).content.decode()
    assert "Connect Xero" not in body and "Only agency owners and admins" in body
    response = client.post(
        f"/connections/tenants/{world.tenant_a1.pk}/add/cin7/",
        {"cin7-display_name": "Stock", "cin7-account__account_id": "x", "cin7-credentials__application_key": "y"},
        follow=True,
    )
    assert "Only agency owners and admins" in " ".join(_messages(response))
    assert _connections(world.tenant_a1) == []


def test_connect_magento_from_the_form_and_test_it(world, client, sandbox_xero):
    store = store_create(code="web-shop", currency="AUD")
    client.force_login(world.owner_a)
    response = client.post(
        f"/connections/tenants/{world.tenant_a1.pk}/add/magento/",
        {
            "magento-display_name": "Web Shop",
            "magento-account__store_url": "http://testserver/sandbox/magento",
            "magento-account__store_code": "web-shop",
            "magento-credentials__access_token": store["access_token"],
        },
        follow=True,
    )
    assert any("Web Shop is connected" in m for m in _messages(response))
    [shop] = _connections(world.tenant_a1)
    assert shop.status == Connection.Status.ACTIVE and shop.external_account_id == "testserver/sandbox/magento/web-shop"
    assert store["access_token"] not in response.content.decode()
    assert _connections(world.tenant_b1) == []

    tested = client.post(f"/connections/tenants/{world.tenant_a1.pk}/{shop.pk}/test/", follow=True)
    [message] = _messages(tested)
    assert message.startswith("Web Shop: ") and "web-shop" in message
    assert tested.context["messages"]._loaded_messages[0].level_tag == "success"

    # A wrong token: the test says so, and nothing else changes.
    with tenant_scope(world.tenant_a1):
        from connections.services import connection_set_credentials

        connection_set_credentials(connection=shop, credentials={"access_token": "not-the-token-123"})
    tested = client.post(f"/connections/tenants/{world.tenant_a1.pk}/{shop.pk}/test/", follow=True)
    assert tested.context["messages"]._loaded_messages[0].level_tag == "error"


def test_a_form_with_missing_fields_connects_nothing(world, client):
    client.force_login(world.owner_a)
    response = client.post(
        f"/connections/tenants/{world.tenant_a1.pk}/add/gorgias/",
        {"gorgias-display_name": "Help", "gorgias-account__domain": "acme", "gorgias-credentials__api_key": "k-123456"},
        follow=True,
    )
    [message] = _messages(response)
    assert "Gorgias was not connected" in message and "Account email" in message
    assert "k-123456" not in response.content.decode()
    assert _connections(world.tenant_a1) == []
    bad_url = client.post(
        f"/connections/tenants/{world.tenant_a1.pk}/add/magento/",
        {
            "magento-display_name": "Shop",
            "magento-account__store_url": "ftp://shop.example.com",
            "magento-credentials__access_token": "tok-123456",
        },
        follow=True,
    )
    assert "https://" in " ".join(_messages(bad_url))
    assert _connections(world.tenant_a1) == []
    assert client.post(f"/connections/tenants/{world.tenant_a1.pk}/add/xero/").status_code == 404


def test_refresh_xero_settings_and_disconnect_from_the_page(world, client, sandbox_xero):
    with tenant_scope(world.tenant_a1):
        xero, org = xero_connection_for(world.tenant_a1, name="Alpha AU")
    with tenant_scope(world.tenant_b1):
        other, _ = xero_connection_for(world.tenant_b1, name="Beta GB", country="GB")
    client.force_login(world.owner_a)
    refreshed = client.post(f"/connections/tenants/{world.tenant_a1.pk}/{xero.pk}/refresh-reference/", follow=True)
    [message] = _messages(refreshed)
    assert "tax rates" in message and "accounts" in message
    assert "9 tax rates" in refreshed.content.decode()  # the AU organisation's, shown in the table

    # B's connection cannot be driven from A's page.
    assert client.post(f"/connections/tenants/{world.tenant_a1.pk}/{other.pk}/disconnect/").status_code == 404
    gone = client.post(f"/connections/tenants/{world.tenant_a1.pk}/{xero.pk}/disconnect/", follow=True)
    assert "is disconnected" in " ".join(_messages(gone))
    with tenant_scope(world.tenant_a1):
        assert Connection.objects.get(pk=xero.pk).status == Connection.Status.DISCONNECTED
    with tenant_scope(world.tenant_b1):
        assert Connection.objects.get(pk=other.pk).status == Connection.Status.ACTIVE


def test_home_page_shows_xero_and_sources_per_tenant(world, client, connect, sandbox_xero):
    with tenant_scope(world.tenant_a1):
        xero_connection_for(world.tenant_a1, name="Alpha AU")
    connect(world.tenant_a1, "magento")
    gorgias = connect(world.tenant_a1, "gorgias")
    with tenant_scope(world.tenant_a1):
        Connection.objects.filter(pk=gorgias.pk).update(status=Connection.Status.NEEDS_REAUTH)
    with tenant_scope(world.tenant_b1):
        xero_connection_for(world.tenant_b1, name="Beta Books")
    client.force_login(world.owner_a)
    body = client.get("/").content.decode()
    row_a1 = body.split("A One", 1)[1].split("</tr>", 1)[0]
    row_a2 = body.split("A Two", 1)[1].split("</tr>", 1)[0]
    assert "Alpha AU" in row_a1 and "1 of 2 need attention" in row_a1
    assert "not connected" in row_a2 and "none" in row_a2
    assert f"/connections/tenants/{world.tenant_a1.pk}/" in row_a1
    assert "Beta Books" not in body
