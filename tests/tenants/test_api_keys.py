import pytest
from django.apps import apps
from django.db import connection

from tenants import services

pytestmark = pytest.mark.django_db


def test_create_shows_the_secret_once_and_it_authenticates(world, api):
    api.force_login(world.owner_a)
    created = api.post("/api/v1/api-keys/", {"name": "Shop bridge"}, format="json")
    assert created.status_code == 201
    key = created.json()["key"]
    assert key.startswith(created.json()["key_prefix"])
    listed = api.get("/api/v1/api-keys/").json()["results"]
    assert "key" not in listed[0]
    api.logout()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    response = api.get("/api/v1/tenants/")
    assert response.status_code == 200
    assert {t["name"] for t in response.json()["results"]} == {"A One", "A Two"}


def test_wrong_and_revoked_keys_are_401(world, api):
    api_key, key = services.api_key_create(agency=world.agency_a, name="k")
    for bad in ("lb_nothere_x", key[:-2] + "xx", "not-even-our-format"):
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {bad}")
        response = api.get("/api/v1/tenants/")
        assert response.status_code == 401
        assert response.json()["code"] == "authentication_failed"
    services.api_key_revoke(api_key=api_key)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert api.get("/api/v1/tenants/").status_code == 401


def test_no_credentials_is_401(world, api):
    response = api.get("/api/v1/tenants/")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_a_read_only_key_cannot_write(world, api):
    _, key = services.api_key_create(agency=world.agency_a, name="reader", read_only=True)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert api.get(f"/api/v1/tenants/{world.tenant_a1.pk}/").status_code == 200
    response = api.patch(f"/api/v1/tenants/{world.tenant_a1.pk}/", {"name": "Renamed"}, format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    created = api.post("/api/v1/tenants/", {"name": "X", "country": "AU", "base_currency": "AUD"}, format="json")
    assert created.status_code == 403
    world.tenant_a1.refresh_from_db()
    assert world.tenant_a1.name == "A One"


def test_a_key_limited_to_one_tenant_gets_404_for_another(world, api):
    _, key = services.api_key_create(agency=world.agency_a, name="t1 only", tenants=[world.tenant_a1])
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert api.get(f"/api/v1/tenants/{world.tenant_a1.pk}/").status_code == 200
    assert api.get(f"/api/v1/tenants/{world.tenant_a2.pk}/").status_code == 404
    assert api.get(f"/api/v1/tenants/{world.tenant_a2.pk}/activity/").status_code == 404
    assert api.get(f"/api/v1/tenants/{world.tenant_b1.pk}/").status_code == 404
    assert [t["id"] for t in api.get("/api/v1/tenants/").json()["results"]] == [world.tenant_a1.pk]


def test_keys_record_when_they_were_last_used(world, api):
    api_key, key = services.api_key_create(agency=world.agency_a, name="k")
    assert api_key.last_used_at is None
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    api.get("/api/v1/tenants/")
    api_key.refresh_from_db()
    assert api_key.last_used_at is not None


def test_api_keys_cannot_manage_keys_or_members(world, api):
    _, key = services.api_key_create(agency=world.agency_a, name="k")
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert api.post("/api/v1/api-keys/", {"name": "escalate"}, format="json").status_code == 403
    assert api.get("/api/v1/invitations/").status_code == 403


def test_the_database_holds_no_key_secret(world, api):
    api.force_login(world.owner_a)
    key = api.post("/api/v1/api-keys/", {"name": "Shop bridge"}, format="json").json()["key"]
    secret = key.split("_", 2)[2]
    tables = set(connection.introspection.table_names())
    with connection.cursor() as cursor:
        for model in apps.get_models():
            if model._meta.db_table not in tables:
                continue
            cursor.execute(f'SELECT * FROM "{model._meta.db_table}"')  # noqa: S608 - table names from the ORM
            for row in cursor.fetchall():
                assert secret not in repr(row), f"secret found in {model._meta.db_table}"
