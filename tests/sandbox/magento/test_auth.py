from datetime import timedelta

import pytest
from django.utils import timezone

from sandbox.magento.models import AccessToken
from sandbox.transport import sandbox_client

SIGN_IN = "The account sign-in was incorrect or your account is disabled temporarily. Please wait and try again later."


@pytest.fixture
def anonymous():
    return sandbox_client()


def test_admin_token_is_a_bare_json_string_that_authorises_requests(stores, anonymous):
    a, _ = stores
    response = anonymous.post(
        a.base + "integration/admin/token",
        json={"username": "admin", "password": a.credentials["admin_password"]},
    )
    assert response.status_code == 200
    token = response.json()
    assert isinstance(token, str) and len(token) == 32
    order = anonymous.get(a.base + "orders/3", headers={"Authorization": f"Bearer {token}"})
    assert order.status_code == 200
    assert order.json()["increment_id"] == "000000003"


def test_admin_token_without_store_code_finds_the_store_by_its_credentials(stores, anonymous):
    a, _ = stores
    response = anonymous.post(
        "/sandbox/magento/rest/V1/integration/admin/token",
        json={"username": "admin", "password": a.credentials["admin_password"]},
    )
    assert response.status_code == 200
    token = response.json()
    assert (
        anonymous.get(
            "/sandbox/magento/rest/default/V1/orders/3", headers={"Authorization": f"Bearer {token}"}
        ).status_code
        == 200
    )


def test_wrong_password_is_401_with_magentos_message(stores, anonymous):
    a, _ = stores
    response = anonymous.post(a.base + "integration/admin/token", json={"username": "admin", "password": "nope"})
    assert response.status_code == 401
    assert response.json() == {"message": SIGN_IN}


def test_another_stores_password_does_not_sign_in(stores, anonymous):
    a, b = stores
    response = anonymous.post(
        a.base + "integration/admin/token", json={"username": "admin", "password": b.credentials["admin_password"]}
    )
    assert response.status_code == 401


def test_missing_credentials_are_an_input_exception(stores, anonymous):
    a, _ = stores
    response = anonymous.post(a.base + "integration/admin/token", json={"username": "admin"})
    assert response.status_code == 400
    body = response.json()
    assert body["message"] == "One or more input exceptions have occurred."
    assert body["errors"][0]["parameters"] == {"fieldName": "password"}


@pytest.mark.parametrize("header", [None, "Bearer not-a-token", "Basic YWRtaW46eA=="])
def test_missing_or_invalid_bearer_is_401_naming_the_resource(stores, anonymous, header):
    a, _ = stores
    headers = {"Authorization": header} if header else {}
    response = anonymous.get(a.base + "orders/3", headers=headers)
    assert response.status_code == 401
    assert response.json() == {
        "message": "The consumer isn't authorized to access %resources.",
        "parameters": {"resources": "Magento_Sales::actions_view"},
    }


def test_expired_admin_token_is_refused(stores, anonymous):
    a, _ = stores
    token = anonymous.post(
        a.base + "integration/admin/token", json={"username": "admin", "password": a.credentials["admin_password"]}
    ).json()
    row = AccessToken.objects.get(token=token)
    assert row.expires_at - timezone.now() > timedelta(hours=3, minutes=59)
    row.expires_at = timezone.now() - timedelta(seconds=1)
    row.save()
    assert anonymous.get(a.base + "orders/3", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_integration_token_as_bearer_can_be_switched_off(stores):
    a, _ = stores
    a_store = AccessToken.objects.get(token=a.token).store
    a_store.integration_bearer_enabled = False
    a_store.save()
    assert a.get("orders/3").status_code == 401


def test_a_token_of_one_store_is_refused_by_another_stores_url(stores):
    a, b = stores
    response = b.client.get(a.base + "orders/3")
    assert response.status_code == 401


def test_unknown_store_code_and_unknown_route_match_no_route(stores):
    a, _ = stores
    assert a.client.get("/sandbox/magento/rest/nowhere/V1/orders/3").json() == {
        "message": "Request does not match any route."
    }
    response = a.get("ordersx")
    assert response.status_code == 404
    assert response.json() == {"message": "Request does not match any route."}
    assert a.client.delete(a.base + "orders/3").status_code == 404
