"""One test per fixture file in fixtures/webhooks/<provider>/<event>__<variant>.json, plus the meta-test that every
webhook event a provider declares has at least one fixture.

A fixture holds the delivery (`body`, or `raw_body` with `content_type`), how it is authenticated (`signature`:
valid | invalid | missing; `signing: adobe`; `header_secret`), and what a user would see: the HTTP answer and the
inbox rows of the receiving connection. Every fixture runs with a second tenant's connection of the same provider
next to it, whose inbox must stay empty.
"""

import json
from pathlib import Path

import pytest

from connections.providers.registry import PROVIDERS
from connections.services import connection_set_webhook_secret
from sync.models import InboundEvent, WebhookStats
from tenants.scoping import tenant_scope
from tests.factories import ConnectionFactory
from tests.sync.webhook_helpers import TEST_XERO_KEY, adobe_key_pair, adobe_sign, xero_sign

FIXTURES = Path(__file__).parent / "fixtures" / "webhooks"
FILES = sorted(FIXTURES.glob("*/*.json"))
DEFAULT_XERO_ORG = "c2cc9b6e-9458-4c7d-93cc-f02b81b0594f"

pytestmark = pytest.mark.django_db


def _event_of(path: Path) -> str:
    return path.stem.split("__", 1)[0]


def _connection(provider: str, tenant, fixture: dict, *, account: str):
    connection = ConnectionFactory(tenant=tenant, provider=provider, external_account_id=account, credentials={})
    if fixture.get("signing") == "adobe":
        connection_set_webhook_secret(connection=connection, secret=adobe_key_pair()[1])
    elif fixture.get("header_secret"):
        connection_set_webhook_secret(connection=connection, secret=fixture["header_secret"])
    return connection


def _headers(provider: str, fixture: dict, body: bytes) -> dict:
    mode = fixture.get("signature", "valid")
    headers = {}
    if mode == "missing":
        return headers
    if provider == "xero":
        headers["HTTP_X_XERO_SIGNATURE"] = xero_sign(body, TEST_XERO_KEY if mode == "valid" else "another-key")
    elif fixture.get("signing") == "adobe":
        headers["HTTP_X_ADOBE_COMMERCE_WEBHOOK_SIGNATURE"] = adobe_sign(body, "store" if mode == "valid" else "other")
    elif fixture.get("header_secret"):
        name, _, value = fixture["header_secret"].partition(":")
        value = value.strip() if mode == "valid" else value.strip() + "-wrong"
        headers["HTTP_" + name.strip().upper().replace("-", "_")] = value
    return headers


def _inbox(connection):
    with tenant_scope(connection.tenant):
        return list(InboundEvent.objects.filter(connection=connection).order_by("pk"))


@pytest.mark.parametrize("path", FILES, ids=[f"{p.parent.name}/{p.stem}" for p in FILES])
def test_webhook_fixture(path, world, client, settings):
    settings.XERO_WEBHOOK_KEY = TEST_XERO_KEY
    provider = path.parent.name
    fixture = json.loads(path.read_text())
    if "raw_body" in fixture:
        body = fixture["raw_body"].encode()
    else:
        body = json.dumps(fixture["body"], separators=(",", ":")).encode()
    account = ""
    if provider == "xero":
        events = (fixture.get("body") or {}).get("events") or []
        account = fixture.get("connection_account") or (events[0]["tenantId"] if events else DEFAULT_XERO_ORG)
    mine = _connection(provider, world.tenant_a1, fixture, account=account)
    theirs = _connection(provider, world.tenant_b1, fixture, account=account + "-b" if account else "")

    url = f"/webhooks/{provider}/{mine.webhook_token}/{fixture.get('query', '')}"
    content_type = fixture.get("content_type", "application/json")
    headers = _headers(provider, fixture, body)
    response = client.post(url, data=body, content_type=content_type, **headers)

    expect = fixture["expect"]
    assert response.status_code == expect["status"], response.content[:300]
    assert "Set-Cookie" not in response.headers
    if expect.get("empty_body"):
        assert response.content == b""
    if "json" in expect:
        assert response.json() == expect["json"]
    if expect["status"] == 401:
        assert set(response.json()) == {"code", "message", "extra"}

    stored = _inbox(mine)
    assert [(e.kind, e.status) for e in stored] == [(x["kind"], x["status"]) for x in expect["events"]]
    for event, wanted in zip(stored, expect["events"], strict=True):
        assert event.source == "webhook"
        if "reason_contains" in wanted:
            assert wanted["reason_contains"] in event.reason
        if event.status == "received":
            assert event.body  # the event itself, for processing to act on
    assert _inbox(theirs) == []

    with tenant_scope(world.tenant_a1):
        stats = WebhookStats.objects.filter(connection=mine).first()
    if expect.get("rejected_count"):
        assert stats.rejected == expect["rejected_count"] and stats.received == 0
        assert stats.last_rejection_reason

    if expect["status"] == 200 and any(x["status"] == "received" for x in expect["events"]):
        # The provider delivers the same bytes again (a retry after a lost answer): nothing new is stored.
        again = client.post(url, data=body, content_type=content_type, **headers)
        assert again.status_code == 200
        assert len(_inbox(mine)) == len(stored)


def test_every_declared_webhook_event_has_a_fixture():
    covered = {(p.parent.name, _event_of(p)) for p in FILES}
    missing = []
    for provider in PROVIDERS:
        for event in provider.webhook_events:
            if (provider.id, event.replace("/", "_")) not in covered:
                missing.append(f"{provider.id}: {event}")
    assert not missing, f"webhook events without a fixture in {FIXTURES}: {missing}"
    # And no fixture folder for a provider the registry does not know.
    assert {p.parent.name for p in FILES} <= {provider.id for provider in PROVIDERS}
