"""The per-process cache of connections by webhook token never decides an answer on its own: a secret rotated, a
connection disconnected or a token replaced (by another process, behind the cache's back) takes effect at once."""

import json
import uuid

import pytest

from connections.models import Connection
from connections.services import connection_set_webhook_secret
from sync.inbound.webhooks import connection_cache
from sync.models import InboundEvent, WebhookStats
from sync.services.inbox import webhook_counts_flush
from tenants.scoping import tenant_scope
from tests.factories import ConnectionFactory
from tests.sync.webhook_helpers import TEST_XERO_KEY, adobe_key_pair, adobe_sign, xero_invoice_delivery, xero_sign

pytestmark = pytest.mark.django_db


def _inbox(connection) -> list[InboundEvent]:
    with tenant_scope(connection.tenant_id):
        return list(InboundEvent.objects.filter(connection=connection).order_by("pk"))


def _post_xero(client, token: str, org: str):
    body = xero_invoice_delivery(org)
    return client.post(
        f"/webhooks/xero/{token}/", data=body, content_type="application/json", HTTP_X_XERO_SIGNATURE=xero_sign(body)
    )


def _post_magento(client, connection, key_name: str):
    body = json.dumps({"eventName": "observer.sales_order_save_after", "data": {"id": str(uuid.uuid4())}}).encode()
    return client.post(
        f"/webhooks/magento/{connection.webhook_token}/",
        data=body,
        content_type="application/json",
        HTTP_X_ADOBE_COMMERCE_WEBHOOK_SIGNATURE=adobe_sign(body, key_name),
    )


def _post_cin7(client, connection, secret: str):
    body = json.dumps({"EventType": "Sale/OrderAuthorised", "SaleID": str(uuid.uuid4())}).encode()
    return client.post(
        f"/webhooks/cin7/{connection.webhook_token}/",
        data=body,
        content_type="application/json",
        HTTP_X_WEBHOOK_SECRET=secret,
    )


@pytest.fixture(autouse=True)
def _empty_cache():
    connection_cache.clear()
    yield
    connection_cache.clear()


def _connection(tenant, provider: str, **fields) -> Connection:
    return ConnectionFactory(tenant=tenant, provider=provider, credentials={}, **fields)


def _reread(connection) -> Connection:
    """The connection as another process would load it (not the instance this process's cache holds)."""
    with tenant_scope(connection.tenant_id):
        return Connection.objects.get(pk=connection.pk)


def test_a_rotated_signing_key_takes_effect_at_once_for_a_cached_connection(client, world):
    """Magento deliveries are stored by the one-statement path, which checks the row's secret is still the one the
    cached connection was read with."""
    mine = _connection(world.tenant_a1, "magento")
    other = _connection(world.tenant_b1, "magento")
    connection_set_webhook_secret(connection=mine, secret=adobe_key_pair("store")[1])
    connection_set_webhook_secret(connection=other, secret=adobe_key_pair("store")[1])
    assert _post_magento(client, mine, "store").json() == {"op": "success"}
    assert connection_cache.get(mine.webhook_token) is not None

    # Another process rotates the store's key: this process's cache still holds the old one.
    connection_set_webhook_secret(connection=_reread(mine), secret=adobe_key_pair("other")[1])
    assert _post_magento(client, mine, "store").status_code == 401
    assert _post_magento(client, mine, "other").json() == {"op": "success"}
    assert len(_inbox(mine)) == 2 and _inbox(other) == []
    webhook_counts_flush()  # accepted deliveries are counted in memory first
    with tenant_scope(mine.tenant_id):
        stats = WebhookStats.objects.get(connection=mine)
    assert (stats.received, stats.rejected) == (2, 1)


def test_a_rotated_header_secret_takes_effect_at_once_for_a_cached_connection(client, world):
    """Cin7 pointer events take the general path, which checks the row the same way before it stores."""
    mine = _connection(world.tenant_a1, "cin7")
    connection_set_webhook_secret(connection=mine, secret="X-Webhook-Secret: first")
    assert _post_cin7(client, mine, "first").status_code == 200

    connection_set_webhook_secret(connection=_reread(mine), secret="X-Webhook-Secret: second")
    assert _post_cin7(client, mine, "first").status_code == 401
    assert _post_cin7(client, mine, "second").status_code == 200
    assert len(_inbox(mine)) == 2


def test_a_disconnected_connection_answers_404_though_it_is_cached(client, world, settings):
    settings.XERO_WEBHOOK_KEY = TEST_XERO_KEY
    org = str(uuid.uuid4())
    mine = _connection(world.tenant_a1, "xero", external_account_id=org)
    assert _post_xero(client, mine.webhook_token, org).status_code == 200

    with tenant_scope(mine.tenant_id):
        Connection.objects.filter(pk=mine.pk).update(status=Connection.Status.DISCONNECTED)
    response = _post_xero(client, mine.webhook_token, org)
    assert response.status_code == 404 and response.json()["code"] == "not_found"
    assert len(_inbox(mine)) == 1
    assert connection_cache.get(mine.webhook_token) is None


def test_a_replaced_token_stops_working_at_once_though_it_is_cached(client, world, settings):
    settings.XERO_WEBHOOK_KEY = TEST_XERO_KEY
    org = str(uuid.uuid4())
    mine = _connection(world.tenant_a1, "xero", external_account_id=org)
    old_token = mine.webhook_token
    assert _post_xero(client, old_token, org).status_code == 200

    with tenant_scope(mine.tenant_id):
        Connection.objects.filter(pk=mine.pk).update(webhook_token="new-" + uuid.uuid4().hex)
    assert _post_xero(client, old_token, org).status_code == 404
    assert _post_xero(client, _reread(mine).webhook_token, org).status_code == 200
    assert len(_inbox(mine)) == 2


def test_an_entry_expires(world):
    mine = _connection(world.tenant_a1, "xero", external_account_id=str(uuid.uuid4()))
    connection_cache.put(mine.webhook_token, mine)
    assert connection_cache.get(mine.webhook_token) is mine
    connection_cache.put(mine.webhook_token, mine, seconds=-1)
    assert connection_cache.get(mine.webhook_token) is None
