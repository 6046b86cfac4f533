"""No principal of agency A ever reads or touches agency B's data, and a member limited to T1 never sees T2.

The matrix enumerates the URL configuration and the admin registry itself: routes and admins added later are
covered without editing this file (their models only need a factory in tests/factories.py).
"""

import pytest
from django.contrib import admin
from django.urls import reverse

from tenants import services
from tests.isolation import api_routes, fill, make_row_for, view_class, view_methods

pytestmark = pytest.mark.django_db

ROUTES = list(api_routes())


def principals(world, api):
    """(label, client-configurer) for: A's owner (session), A's unlimited API key, A's member limited to T1."""
    _, full_key = services.api_key_create(agency=world.agency_a, name="matrix")

    def owner():
        api.force_authenticate(user=None)
        api.credentials()
        api.force_login(world.owner_a)

    def key():
        api.logout()
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {full_key}")

    def member():
        api.credentials()
        api.force_login(world.member_a)

    return [("owner", owner), ("api_key", key), ("member", member)]


def test_the_matrix_sees_the_api():
    names = {route for route, _ in ROUTES}
    assert any("tenants" in r for r in names) and any("api-keys" in r for r in names)
    for route, pattern in ROUTES:
        cls = view_class(pattern)
        assert getattr(cls, "model", None) is not None, f"{route}: API views must declare the model they serve"


@pytest.mark.parametrize("route,pattern", ROUTES, ids=[r for r, _ in ROUTES])
def test_other_agencys_objects_are_404_on_every_route(world, api, route, pattern):
    model = view_class(pattern).model
    own_row = make_row_for(model, agency=world.agency_a, tenant=world.tenant_a1)
    foreign_row = make_row_for(model, agency=world.agency_b, tenant=world.tenant_b1)
    needs_pk = "pk" in route
    needs_tenant = "tenant_id" in route
    if not needs_pk and not needs_tenant:
        pytest.skip("agency-level list: covered by test_lists_never_contain_other_agencies_rows")

    for label, login in principals(world, api):
        login()
        for method in view_methods(pattern):
            values = {"tenant_id": world.tenant_b1.pk, "pk": foreign_row.pk}
            if needs_tenant and needs_pk:
                # A's own tenant in the URL, B's object id: still invisible.
                cross = fill(route, tenant_id=world.tenant_a1.pk, pk=foreign_row.pk)
                assert _call(api, method, cross).status_code in (403, 404), (label, method, cross)
            foreign = _call(api, method, fill(route, **values))
            if foreign.status_code == 403:
                # Forbidden outright is fine only when it is the same answer for the principal's own object.
                own = _call(api, method, fill(route, tenant_id=world.tenant_a1.pk, pk=own_row.pk))
                assert own.status_code == 403, (label, method, route, "403 must not reveal existence")
                continue
            assert foreign.status_code == 404, (label, method, route, foreign.status_code, foreign.content[:200])
            if method != "HEAD":
                assert foreign.json()["code"] == "not_found"


@pytest.mark.parametrize("route,pattern", ROUTES, ids=[r for r, _ in ROUTES])
def test_lists_never_contain_other_agencies_rows(world, api, route, pattern):
    if "pk" in route or "GET" not in view_methods(pattern):
        pytest.skip("not a list")
    model = view_class(pattern).model
    make_row_for(model, agency=world.agency_a, tenant=world.tenant_a1)
    make_row_for(model, agency=world.agency_a, tenant=world.tenant_a2)
    foreign_rows = {
        make_row_for(model, agency=world.agency_b, tenant=world.tenant_b1).pk,
        make_row_for(model, agency=world.agency_b, tenant=world.tenant_b2).pk,
    }
    for label, login in principals(world, api):
        login()
        response = api.get(fill(route, tenant_id=world.tenant_a1.pk))
        if response.status_code == 403:
            continue
        assert response.status_code == 200, (label, route, response.content[:200])
        body = response.json()
        rows = body["results"] if isinstance(body, dict) and "results" in body else body
        ids = {row["id"] for row in rows} if isinstance(rows, list) else {rows["id"]}
        assert not ids & foreign_rows, (label, route)


def test_member_limited_to_one_tenant_cannot_see_the_other(world, api):
    api.force_login(world.member_a)
    listed = {t["id"] for t in api.get("/api/v1/tenants/").json()["results"]}
    assert listed == {world.tenant_a1.pk}
    assert api.get(f"/api/v1/tenants/{world.tenant_a2.pk}/").status_code == 404
    assert api.get(f"/api/v1/tenants/{world.tenant_a2.pk}/activity/").status_code == 404
    assert api.get(f"/api/v1/tenants/{world.tenant_a1.pk}/activity/").status_code == 200


def _call(api, method, path):
    return getattr(api, method.lower())(path, {}, format="json")


ADMINS = [(model, model_admin) for model, model_admin in admin.site._registry.items()]


@pytest.mark.parametrize("model,model_admin", ADMINS, ids=[m._meta.label for m, _ in ADMINS])
def test_admin_shows_only_the_staff_users_agency(world, client, model, model_admin):
    if model._meta.app_label in ("django_q", "account", "mfa", "auth", "sites"):
        pytest.skip("third-party admin: superusers only")
    own = make_row_for(model, agency=world.agency_a, tenant=world.tenant_a1)
    foreign = make_row_for(model, agency=world.agency_b, tenant=world.tenant_b1)
    client.force_login(world.owner_a)
    info = (model._meta.app_label, model._meta.model_name)
    changelist = client.get(reverse("admin:{}_{}_changelist".format(*info)))
    if changelist.status_code == 403:
        return  # not this user's module at all (platform operators only)
    assert changelist.status_code == 200
    shown = {obj.pk for obj in changelist.context["cl"].result_list}
    assert foreign.pk not in shown
    assert own.pk in shown
    missing = client.get(reverse("admin:{}_{}_change".format(*info), args=[987654321]))
    other = client.get(reverse("admin:{}_{}_change".format(*info), args=[foreign.pk]))
    assert other.status_code == missing.status_code, "another agency's row must look exactly like a missing one"
    assert other.status_code in (302, 404)


def test_third_party_admins_are_closed_to_agency_staff(world, client):
    client.force_login(world.owner_a)
    for model, _ in ADMINS:
        if model._meta.app_label in ("django_q", "account", "mfa", "auth"):
            info = (model._meta.app_label, model._meta.model_name)
            assert client.get(reverse("admin:{}_{}_changelist".format(*info))).status_code == 403, info
