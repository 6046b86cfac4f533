"""The WSGI entry point answers webhook deliveries past the middleware chain (sync.inbound.wsgi) exactly as the full
Django handler answers them: same status, headers and body, same rows stored, same counters."""

import json
import time
import uuid

import httpx
import pytest
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections
from django.urls import resolve, reverse

from config import wsgi
from sync.inbound.webhooks import connection_cache, webhook_receive
from sync.inbound.wsgi import WEBHOOK_PATH, WebhookFastPath
from sync.models import InboundEvent, WebhookStats
from tenants.scoping import tenant_scope
from tests.factories import ConnectionFactory
from tests.sync.webhook_helpers import TEST_XERO_KEY, xero_invoice_delivery, xero_sign

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _keep_the_test_transaction():
    """As Django's test client does during a request: close_old_connections, sent by the full handler's signals and
    called by the fast path, would close the connection that holds the test's transaction."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


ORG = "0b9d1c2e-6a37-4c1e-9a41-0f1d6c3b5e77"


@pytest.fixture
def mine(world, settings):
    settings.XERO_WEBHOOK_KEY = TEST_XERO_KEY
    settings.WEBHOOK_COUNT_SECONDS = 0
    connection_cache.clear()
    ConnectionFactory(tenant=world.tenant_b1, provider="xero", external_account_id=ORG + "-b", credentials={})
    return ConnectionFactory(tenant=world.tenant_a1, provider="xero", external_account_id=ORG, credentials={})


def _send(application, method: str, path: str, body: bytes = b"", headers: dict | None = None, scheme="http"):
    transport = httpx.WSGITransport(app=application, wsgi_errors=None)
    with httpx.Client(transport=transport, base_url=f"{scheme}://127.0.0.1") as client:
        response = client.request(
            method, path, content=body, headers={"content-type": "application/json", **(headers or {})}
        )
    return response.status_code, sorted(response.headers.items()), response.content


def _both(method: str, path: str, body: bytes = b"", headers: dict | None = None, scheme="http"):
    """The answer of the fast path and of Django's full handler to the same request (the fast path first)."""
    fast_path = WebhookFastPath(WSGIHandler(), connection_upkeep=lambda: None)  # see _keep_the_test_transaction
    fast = _send(fast_path, method, path, body, headers, scheme)
    django = _send(WSGIHandler(), method, path, body, headers, scheme)
    assert fast == django
    return fast


def _signed(body: bytes) -> dict:
    return {"x-xero-signature": xero_sign(body)}


def _stored(connection) -> list[InboundEvent]:
    with tenant_scope(connection.tenant_id):
        return list(InboundEvent.objects.filter(connection=connection))


def _stats(connection) -> WebhookStats:
    with tenant_scope(connection.tenant_id):
        return WebhookStats.objects.get(connection=connection)


def test_the_project_entry_point_is_the_fast_path():
    assert isinstance(wsgi.application, WebhookFastPath)


def test_a_valid_delivery_is_stored_and_answered_as_django_answers_it(mine):
    body = xero_invoice_delivery(ORG)
    path = f"/webhooks/xero/{mine.webhook_token}/"
    status, headers, content = _both("POST", path, body, _signed(body))
    assert (status, content) == (200, b"")
    assert ("x-content-type-options", "nosniff") in headers
    assert len(_stored(mine)) == 1  # the second answer was to a redelivery
    assert _stats(mine).received == 2


def test_the_intent_to_receive_check_is_answered_as_xero_expects(mine):
    body = json.dumps({"events": [], "firstEventSequence": 0, "lastEventSequence": 0, "entropy": "S0ME"}).encode()
    path = f"/webhooks/xero/{mine.webhook_token}/"
    assert _both("POST", path, body, _signed(body))[0::2] == (200, b"")
    status, _, content = _both("POST", path, body, {"x-xero-signature": xero_sign(body, "not-the-key")})
    assert status == 401 and json.loads(content)["code"] == "bad_signature"
    assert _stored(mine) == []
    assert (_stats(mine).received, _stats(mine).rejected) == (2, 2)


@pytest.mark.parametrize(
    "case",
    ["unknown token", "another provider's token", "no signature", "malformed JSON", "over the size limit", "GET"],
)
def test_every_other_answer_is_the_same(mine, case, settings):
    body = xero_invoice_delivery(ORG)
    path = f"/webhooks/xero/{mine.webhook_token}/"
    method, headers = "POST", _signed(body)
    if case == "unknown token":
        path = f"/webhooks/xero/{uuid.uuid4().hex}/"
    elif case == "another provider's token":
        path = f"/webhooks/cin7/{mine.webhook_token}/"
    elif case == "no signature":
        headers = {}
    elif case == "malformed JSON":
        body = b"{not json"
        headers = _signed(body)
    elif case == "over the size limit":
        settings.API_MAX_BODY_BYTES = len(body) - 1
    else:
        method, body, headers = "GET", b"", {}
    status, _, _ = _both(method, path, body, headers)
    assert (
        status
        == {
            "unknown token": 404,
            "another provider's token": 404,
            "no signature": 401,
            "malformed JSON": 200,  # acknowledged and kept as rejected: Xero would retry it for a day
            "over the size limit": 413,
            "GET": 405,
        }[case]
    )


def test_an_insecure_delivery_is_redirected_where_https_is_required(mine, settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 3600
    body = xero_invoice_delivery(ORG)
    path = f"/webhooks/xero/{mine.webhook_token}/"
    status, headers, _ = _both("POST", path, body, _signed(body))
    assert status == 301 and ("location", f"https://127.0.0.1{path}") in headers
    assert _stored(mine) == []
    status, headers, _ = _both("POST", path, body, _signed(body), scheme="https")
    assert status == 200 and ("strict-transport-security", "max-age=3600") in headers


@pytest.mark.parametrize(
    "path",
    [
        "/webhooks/xero/abc/",
        "/webhooks/gorgias/a-b_c/",
        "/webhooks/xero/abc",
        "/webhooks/xero/a/b/",
        "/webhooks/x.y/abc/",
    ],
)
def test_the_fast_path_takes_exactly_the_paths_the_route_takes(path):
    try:
        match = resolve(path)
    except Exception:  # noqa: BLE001 - any refusal: not the view's
        match = None
    routed = match is not None and match.func is webhook_receive
    fast = WEBHOOK_PATH.fullmatch(path)
    assert routed == (fast is not None)
    if routed:
        assert match.kwargs == fast.groupdict()
    assert WEBHOOK_PATH.fullmatch(reverse("webhooks:receive", args=["xero", "tok_en-1"]))


@pytest.mark.django_db(transaction=True)
def test_each_delivery_keeps_the_database_connection_up_as_any_request_does(mine):
    """close_old_connections before and after the delivery, as request_started and request_finished would."""
    from django.db import connection

    path = f"/webhooks/xero/{mine.webhook_token}/"
    connection.ensure_connection()
    connection.close_at = time.monotonic() - 1  # past CONN_MAX_AGE: replaced before the delivery's statement
    old = connection.connection
    body = xero_invoice_delivery(ORG)
    assert _send(wsgi.application, "POST", path, body, _signed(body))[0] == 200
    assert connection.connection is not None and connection.connection is not old

    max_age = connection.settings_dict["CONN_MAX_AGE"]
    connection.settings_dict["CONN_MAX_AGE"] = 0  # a connection per request: closed once it is answered
    try:
        connection.close()
        body = xero_invoice_delivery(ORG)
        assert _send(wsgi.application, "POST", path, body, _signed(body))[0] == 200
        assert connection.connection is None
    finally:
        connection.settings_dict["CONN_MAX_AGE"] = max_age
    assert len(_stored(mine)) == 2
