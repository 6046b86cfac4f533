"""Bad input to every endpoint is a 400 or 413 in the one error shape, never a 500."""

import pytest

from tests.isolation import api_routes, fill, make_row_for, view_class, view_methods

pytestmark = pytest.mark.django_db

WRITE_ROUTES = [(r, p) for r, p in api_routes() if {"POST", "PUT", "PATCH"} & set(view_methods(p))]


def _path(route, world, pattern):
    row = make_row_for(view_class(pattern).model, agency=world.agency_a, tenant=world.tenant_a1)
    return fill(route, tenant_id=world.tenant_a1.pk, pk=row.pk)


def _assert_error_shape(response, status):
    assert response.status_code == status, response.content[:300]
    body = response.json()
    assert set(body) == {"code", "message", "extra"}
    assert body["message"]


@pytest.mark.parametrize("route,pattern", WRITE_ROUTES, ids=[r for r, _ in WRITE_ROUTES])
def test_every_write_refuses_bad_bodies_clearly(world, api, route, pattern, settings):
    api.force_login(world.owner_a)
    path = _path(route, world, pattern)
    serializer_fields = view_class(pattern).serializer_class().fields
    writable = [name for name, field in serializer_fields.items() if not field.read_only]
    for method in {"POST", "PUT", "PATCH"} & set(view_methods(pattern)):
        send = getattr(api, method.lower())
        _assert_error_shape(send(path, data=b'{"name": ', content_type="application/json"), 400)
        _assert_error_shape(send(path, data=b"\xff\xfe not utf8", content_type="application/json"), 400)
        _assert_error_shape(send(path, data=[1, 2], format="json"), 400)
        _assert_error_shape(send(path, data={"no_such_field": 1}, format="json"), 400)
        for name in writable:
            response = send(path, data={name: {"wrong": ["type"]}}, format="json")
            _assert_error_shape(response, 400)
            assert name in response.json()["extra"]["fields"]
        oversize = b'{"name": "' + b"x" * (settings.API_MAX_BODY_BYTES + 10) + b'"}'
        _assert_error_shape(send(path, data=oversize, content_type="application/json"), 413)


def test_unknown_urls_and_non_numeric_ids_are_json_404s(world, api):
    api.force_login(world.owner_a)
    _assert_error_shape(api.get("/api/v1/no-such-thing/"), 404)
    _assert_error_shape(api.get("/api/v1/tenants/abc/"), 404)
    _assert_error_shape(api.get("/api/v1/tenants/abc/activity/"), 404)


def test_a_valid_tenant_create_and_its_validation(world, api):
    api.force_login(world.owner_a)
    ok = api.post(
        "/api/v1/tenants/",
        {"name": "Cedar & Co", "country": "nz", "base_currency": "nzd", "timezone": "Pacific/Auckland"},
        format="json",
    )
    assert ok.status_code == 201, ok.content
    assert ok.json()["slug"] == "cedar-co"
    assert ok.json()["base_currency"] == "NZD"
    bad = api.post(
        "/api/v1/tenants/",
        {"name": "X", "country": "AU", "base_currency": "AUD", "timezone": "Mars/Olympus"},
        format="json",
    )
    _assert_error_shape(bad, 400)
    assert "timezone" in bad.json()["message"]
    taken = api.post(
        "/api/v1/tenants/", {"name": "Y", "slug": "cedar-co", "country": "AU", "base_currency": "AUD"}, format="json"
    )
    _assert_error_shape(taken, 400)
    assert taken.json()["code"] == "slug_taken"
