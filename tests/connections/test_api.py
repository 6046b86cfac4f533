"""/api/v1/tenants/{tenant_id}/connections/: secrets go in, never come out."""

import pytest

from connections import crypto
from connections.models import Connection
from tenants import services as tenant_services
from tenants.scoping import tenant_scope
from tests.factories import ConnectionFactory

pytestmark = pytest.mark.django_db

MAGENTO = {
    "provider": "magento",
    "display_name": "Main store",
    "credentials": {"access_token": "api-magento-secret-5521"},
    "account": {"store_url": "https://Shop.Example.com/", "store_code": "default"},
    "webhook_secret": "-----BEGIN PUBLIC KEY-----api-webhook-secret-88",
}


def url(tenant, *parts):
    return "/".join([f"/api/v1/tenants/{tenant.pk}/connections", *map(str, parts)]) + "/"


def test_create_list_retrieve_disconnect_without_ever_returning_a_secret(world, api, keys):
    api.force_login(world.owner_a)
    created = api.post(url(world.tenant_a1), MAGENTO, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["status"] == "active" and body["has_credentials"] and body["has_webhook_secret"]
    assert body["external_account_id"] == "shop.example.com/default"
    assert body["base_url"] == "https://shop.example.com/rest/default"
    assert body["provider_name"] == "Magento"

    listed = api.get(url(world.tenant_a1))
    retrieved = api.get(url(world.tenant_a1, body["id"]))
    disconnected = api.post(
        url(world.tenant_a1, body["id"], "disconnect"), {"reason": "Moving to Shopify"}, format="json"
    )
    assert listed.status_code == retrieved.status_code == disconnected.status_code == 200
    assert [c["id"] for c in listed.json()["results"]] == [body["id"]]
    assert disconnected.json()["status"] == "disconnected"
    assert disconnected.json()["status_reason"] == "Moving to Shopify"
    assert disconnected.json()["has_credentials"] is False

    for response in (created, listed, retrieved, disconnected):
        text = response.content.decode()
        assert "api-magento-secret-5521" not in text and "api-webhook-secret-88" not in text
        assert "gAAAAA" not in text and "webhook_token" not in text and "ciphertext" not in text
    with tenant_scope(world.tenant_a1):
        row = Connection.objects.get(pk=body["id"])
    assert row.credentials_ciphertext == "" and row.webhook_secret_ciphertext == ""
    # Disconnecting twice is harmless.
    assert api.post(url(world.tenant_a1, body["id"], "disconnect"), {}, format="json").status_code == 200


def test_credentials_are_stored_encrypted_for_the_new_row(world, api, keys):
    _, key = tenant_services.api_key_create(agency=world.agency_a, name="partner")
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    created = api.post(
        url(world.tenant_a2),
        {
            "provider": "gorgias",
            "display_name": "Helpdesk",
            "account": {"domain": "acme"},
            "credentials": {"username": "ops@acme.test", "api_key": "gorgias-api-secret-31"},
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    with tenant_scope(world.tenant_a2):
        row = Connection.objects.get(pk=created.json()["id"])
    assert crypto.credentials_read(row)["api_key"] == "gorgias-api-secret-31"
    assert row.base_url == "https://acme.gorgias.com/api"


@pytest.mark.parametrize(
    "body,field",
    [
        ({**MAGENTO, "credentials": {}}, "credentials"),
        ({**MAGENTO, "credentials": {"access_token": "x", "consumer_key": "only-one"}}, "credentials"),
        ({**MAGENTO, "credentials": {"access_token": "x", "password": "y"}}, "credentials"),
        ({**MAGENTO, "account": {"store_url": "ftp://shop.example.com"}}, "account"),
        ({**MAGENTO, "account": {}}, "account"),
        ({**MAGENTO, "provider": "xero"}, "provider"),
        ({**MAGENTO, "provider": "nope"}, "provider"),
        (
            {
                "provider": "cin7",
                "display_name": "C",
                "credentials": {"application_key": "k"},
                "account": {"account_id": "not-a-guid"},
            },
            "account",
        ),
        ({"provider": "rest", "display_name": "Partner", "credentials": {"token": "x"}}, "credentials"),
        (
            {
                "provider": "gorgias",
                "display_name": "G",
                "account": {"domain": "acme"},
                "webhook_secret": "s",
                "credentials": {"username": "u@x.test", "api_key": "k"},
            },
            "webhook_secret",
        ),
        ({**MAGENTO, "display_name": ""}, "display_name"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_without_echoing_secrets(world, api, keys, body, field):
    api.force_login(world.owner_a)
    response = api.post(url(world.tenant_a1), body, format="json")
    assert response.status_code == 400, response.content
    payload = response.json()
    assert set(payload) == {"code", "message", "extra"}
    assert field in payload["extra"]["fields"]
    assert "only-one" not in response.content.decode()
    with tenant_scope(world.tenant_a1):
        assert not Connection.objects.exists()


def test_the_same_account_cannot_be_connected_twice_while_live(world, api, keys):
    api.force_login(world.owner_a)
    assert api.post(url(world.tenant_a1), MAGENTO, format="json").status_code == 201
    again = api.post(url(world.tenant_a1), MAGENTO, format="json")
    assert again.status_code == 400 and again.json()["code"] == "already_connected"
    # Another tenant may connect the same store.
    assert api.post(url(world.tenant_a2), MAGENTO, format="json").status_code == 201


def test_rest_partner_connection_needs_no_credentials(world, api, keys):
    api.force_login(world.owner_a)
    response = api.post(url(world.tenant_a1), {"provider": "rest", "display_name": "Our CRM"}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["status"] == "active" and response.json()["has_credentials"] is False


def test_another_tenants_connection_is_a_404(world, api, keys):
    mine = ConnectionFactory(tenant=world.tenant_a1)
    theirs = ConnectionFactory(tenant=world.tenant_b1)
    sibling = ConnectionFactory(tenant=world.tenant_a2)
    api.force_login(world.owner_a)
    assert api.get(url(world.tenant_a1, mine.pk)).status_code == 200
    for path in (url(world.tenant_a1, theirs.pk), url(world.tenant_b1, theirs.pk), url(world.tenant_a1, sibling.pk)):
        response = api.get(path)
        assert response.status_code == 404 and response.json()["code"] == "not_found"
        assert api.post(path + "disconnect/", {}, format="json").status_code == 404
    with tenant_scope(world.tenant_b1):
        theirs.refresh_from_db()
    assert theirs.status == "active"
    listed = api.get(url(world.tenant_a1)).json()["results"]
    assert [c["id"] for c in listed] == [mine.pk]


def test_members_see_but_do_not_connect_or_disconnect(world, api, keys):
    conn = ConnectionFactory(tenant=world.tenant_a1)
    api.force_login(world.member_a)
    assert api.get(url(world.tenant_a1, conn.pk)).status_code == 200
    assert api.post(url(world.tenant_a1), MAGENTO, format="json").status_code == 403
    assert api.post(url(world.tenant_a1, conn.pk, "disconnect"), {}, format="json").status_code == 403
    assert api.get(url(world.tenant_a2)).status_code == 404


def test_read_only_api_keys_cannot_connect(world, api, keys):
    _, key = tenant_services.api_key_create(agency=world.agency_a, name="ro", read_only=True)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert api.get(url(world.tenant_a1)).status_code == 200
    assert api.post(url(world.tenant_a1), MAGENTO, format="json").status_code == 403


def test_admin_lists_connections_without_secrets(world, client, keys, connect):
    conn = connect(world.tenant_a1, webhook_secret="admin-webhook-secret-12")
    foreign = ConnectionFactory(tenant=world.tenant_b1)
    client.force_login(world.owner_a)
    changelist = client.get("/admin/connections/connection/")
    assert changelist.status_code == 200
    change = client.get(f"/admin/connections/connection/{conn.pk}/change/")
    assert change.status_code == 200
    for page in (changelist, change):
        text = page.content.decode()
        assert "mag-secret-" not in text and "admin-webhook-secret-12" not in text and "gAAAAA" not in text
        assert conn.webhook_token not in text
    assert conn.display_name in changelist.content.decode()
    assert foreign.display_name not in changelist.content.decode()
