"""Xero deliveries end to end, and what every webhook URL answers to unknown tokens, oversize bodies and methods."""

import json
import time
import uuid

import pytest
from django.test import RequestFactory

from connections.models import Connection
from sandbox.transport import sandbox_client
from sandbox.xero.models import Organisation, WebhookDelivery, XeroApp
from sandbox.xero.services.webhooks import webhook_event_queue, webhook_intent_to_receive, webhooks_deliver
from sync.inbound.webhooks import connection_cache, webhook_receive
from sync.models import InboundEvent, WebhookStats
from sync.services.inbox import webhook_counts_flush
from tenants.scoping import tenant_scope
from tests.factories import ConnectionFactory
from tests.sandbox_world import xero_connection_for
from tests.sync.webhook_helpers import TEST_XERO_KEY, xero_sign

pytestmark = pytest.mark.django_db

ORG = "c2cc9b6e-9458-4c7d-93cc-f02b81b0594f"


def _event(resource_id: str, when: str = "2025-03-01T10:15:39.902", tenant: str = ORG, category="CONTACT"):
    return {
        "resourceUrl": f"https://api.xero.com/api.xro/2.0/Contacts/{resource_id}",
        "resourceId": resource_id,
        "eventDateUtc": when,
        "eventType": "UPDATE",
        "eventCategory": category,
        "tenantId": tenant,
        "tenantType": "ORGANISATION",
    }


def _delivery(*events) -> bytes:
    body = {"events": list(events), "firstEventSequence": 1, "lastEventSequence": len(events), "entropy": "ABCDEFGH"}
    return json.dumps(body).encode()


def _post(client, connection, body: bytes, signature: str | None = None):
    return client.post(
        f"/webhooks/xero/{connection.webhook_token}/",
        data=body,
        content_type="application/json",
        HTTP_X_XERO_SIGNATURE=signature if signature is not None else xero_sign(body),
    )


def _inbox(connection):
    with tenant_scope(connection.tenant_id):
        return list(InboundEvent.objects.filter(connection=connection).order_by("pk"))


@pytest.fixture
def xero_pair(world, settings):
    settings.XERO_WEBHOOK_KEY = TEST_XERO_KEY
    mine = ConnectionFactory(tenant=world.tenant_a1, provider="xero", external_account_id=ORG, credentials={})
    other = ConnectionFactory(
        tenant=world.tenant_b1, provider="xero", external_account_id=str(uuid.uuid4()), credentials={}
    )
    return mine, other


def test_the_sandbox_signed_deliveries_are_accepted_end_to_end(world, settings, client):
    """Xero's one app URL receives every organisation's events: each lands in its own tenant's inbox."""
    with tenant_scope(world.tenant_a1):
        conn_a, org_a = xero_connection_for(world.tenant_a1, name="Harbour Coffee")
    with tenant_scope(world.tenant_b1):
        conn_b, org_b = xero_connection_for(world.tenant_b1, name="Dune Outfitters")
    app = XeroApp.objects.get(client_id=org_a["client_id"])
    app.webhook_url = f"http://testserver/webhooks/xero/{conn_a.webhook_token}/"
    app.save(update_fields=["webhook_url"])
    settings.XERO_WEBHOOK_KEY = org_a["webhook_key"]

    with sandbox_client() as xero_side:
        # Xero's own check of the URL: 200 for its signature, 401 for a wrong one; the webhook is then enabled.
        assert webhook_intent_to_receive(app=app, client=xero_side) is True
        contact_id, invoice_id = uuid.uuid4(), uuid.uuid4()
        webhook_event_queue(
            org=Organisation.objects.get(tenant_id=org_a["tenant_id"]),
            category="CONTACT",
            resource_id=contact_id,
            created=True,
        )
        webhook_event_queue(
            org=Organisation.objects.get(tenant_id=org_b["tenant_id"]),
            category="INVOICE",
            resource_id=invoice_id,
            created=False,
        )
        counts = webhooks_deliver(client=xero_side, app=app)
    assert counts["delivered"] >= 1 and counts["retrying"] == counts["failed"] == 0

    a_events, b_events = _inbox(conn_a), _inbox(conn_b)
    assert [(e.kind, e.body["resourceId"]) for e in a_events] == [("CONTACT.CREATE", str(contact_id))]
    assert [(e.kind, e.body["resourceId"]) for e in b_events] == [("INVOICE.UPDATE", str(invoice_id))]
    assert a_events[0].tenant_id == world.tenant_a1.pk and b_events[0].tenant_id == world.tenant_b1.pk

    # Xero retries a delivery whose answer it never saw: the very same bytes store nothing new.
    delivery = WebhookDelivery.objects.filter(app=app).latest("id")
    again = _post(client, conn_a, bytes(delivery.body), delivery.signature)
    assert again.status_code == 200 and again.content == b""
    assert len(_inbox(conn_a)) == 1 and len(_inbox(conn_b)) == 1


def test_the_same_resource_changed_twice_is_two_events_but_a_redelivery_is_none(client, xero_pair):
    mine, _ = xero_pair
    first = _delivery(_event("717f2bfc-c6d4-41fd-b238-3f2f0c0cf777", "2025-03-01T10:15:39.902"))
    later = _delivery(_event("717f2bfc-c6d4-41fd-b238-3f2f0c0cf777", "2025-03-01T10:20:00.000"))
    assert _post(client, mine, first).status_code == 200
    assert _post(client, mine, first).status_code == 200
    # A new delivery (another entropy and sequence) repeating an event already stored is still that event.
    repeated = json.loads(first)
    repeated["entropy"], repeated["firstEventSequence"] = "ZYXWVUTS", 9
    assert _post(client, mine, json.dumps(repeated).encode()).status_code == 200
    assert _post(client, mine, later).status_code == 200
    assert [e.body["eventDateUtc"] for e in _inbox(mine)] == ["2025-03-01T10:15:39.902", "2025-03-01T10:20:00.000"]


def test_a_bad_signature_stores_nothing_but_the_counter(client, xero_pair):
    mine, other = xero_pair
    body = _delivery(_event("717f2bfc-c6d4-41fd-b238-3f2f0c0cf777"))
    for signature in (xero_sign(body, "not-the-key"), "", "%%%not base64", xero_sign(body + b" ")):
        response = _post(client, mine, body, signature)
        assert response.status_code == 401
        assert response.json()["code"] == "bad_signature"
    assert _inbox(mine) == []
    with tenant_scope(mine.tenant_id):
        stats = WebhookStats.objects.get(connection=mine)
    assert (stats.received, stats.rejected) == (0, 4)
    assert "signature" in stats.last_rejection_reason
    with tenant_scope(other.tenant_id):
        assert not WebhookStats.objects.filter(connection=other).exists()


def test_without_a_configured_key_nothing_is_accepted(client, xero_pair, settings):
    mine, _ = xero_pair
    settings.XERO_WEBHOOK_KEY = ""
    body = _delivery(_event("717f2bfc-c6d4-41fd-b238-3f2f0c0cf777"))
    assert _post(client, mine, body, xero_sign(body, "")).status_code == 401
    assert _inbox(mine) == []


def test_intent_to_receive_both_ways(client, xero_pair):
    mine, _ = xero_pair
    body = b'{"events":[],"lastEventSequence":0,"firstEventSequence":0,"entropy":"S0m3r4Nd0mt3xt"}'
    good = _post(client, mine, body)
    assert (good.status_code, good.content) == (200, b"")
    assert _post(client, mine, body, xero_sign(body, "wrong")).status_code == 401
    assert _inbox(mine) == []


def test_unknown_tokens_other_providers_and_disconnected_connections_are_404(client, xero_pair, world):
    mine, _ = xero_pair
    body = _delivery(_event("717f2bfc-c6d4-41fd-b238-3f2f0c0cf777"))
    signature = xero_sign(body)
    for url in (
        "/webhooks/xero/no-such-token/",
        "/webhooks/xero/" + "x" * 200 + "/",
        f"/webhooks/magento/{mine.webhook_token}/",
        f"/webhooks/shopify/{mine.webhook_token}/",
    ):
        response = client.post(url, data=body, content_type="application/json", HTTP_X_XERO_SIGNATURE=signature)
        assert response.status_code == 404, url
        assert response.json()["code"] == "not_found"
    with tenant_scope(mine.tenant_id):
        Connection.objects.filter(pk=mine.pk).update(status=Connection.Status.DISCONNECTED)
    assert _post(client, mine, body).status_code == 404
    with tenant_scope(mine.tenant_id):
        Connection.objects.filter(pk=mine.pk).update(status=Connection.Status.ACTIVE)
    assert client.get(f"/webhooks/xero/{mine.webhook_token}/").status_code == 405
    assert _inbox(mine) == []


def test_oversize_bodies_are_413_before_and_inside_the_view(client, xero_pair, settings):
    mine, _ = xero_pair
    settings.API_MAX_BODY_BYTES = 2_000
    body = _delivery(*[_event(str(uuid.uuid4())) for _ in range(20)])
    assert len(body) > 2_000
    # Declared Content-Length: refused by the middleware.
    assert _post(client, mine, body).status_code == 413
    # No trustworthy Content-Length (a chunked upload reaching the view): the view reads at most the limit + 1.
    request = RequestFactory().post(f"/webhooks/xero/{mine.webhook_token}/", data=body, content_type="application/json")
    request.META["CONTENT_LENGTH"] = ""
    request.META["wsgi.input_terminated"] = True
    request.META["HTTP_X_XERO_SIGNATURE"] = xero_sign(body)
    response = webhook_receive(request, provider="xero", token=mine.webhook_token)
    assert response.status_code == 413
    assert json.loads(response.content)["code"] == "payload_too_large"
    assert _inbox(mine) == []


def test_malformed_json_with_a_valid_signature_is_kept_as_rejected_and_acknowledged(client, xero_pair):
    mine, _ = xero_pair
    for body in (b"{not json", b"[1, 2]", b'{"events": "nope"}', b"\xff\xfe"):
        response = _post(client, mine, body)
        assert (response.status_code, response.content) == (200, b"")
    rejected = _inbox(mine)
    assert [e.status for e in rejected] == ["rejected"] * 4
    assert "not valid JSON" in rejected[0].reason and "not an object" in rejected[1].reason
    assert "events" in rejected[2].reason and "UTF-8" in rejected[3].reason


@pytest.mark.needs_postgres
@pytest.mark.django_db(transaction=True)
def test_json_postgresql_cannot_store_is_kept_as_rejected_and_acknowledged(client, xero_pair):
    """JSON's grammar allows a NUL character and a lone surrogate, which no PostgreSQL JSON column holds, and Python
    reads NaN, which is not JSON: each is kept as rejected with its reason, never a 500."""
    mine, other = xero_pair
    bodies = {
        "NUL": _delivery(_event("nul\u0000" + str(uuid.uuid4()))),
        "NaN": _delivery(_event(str(uuid.uuid4())))[:-1] + b', "x": NaN}',
        "lone surrogate": _delivery(_event("\ud800" + str(uuid.uuid4()))),
        "control character": b'{"events": [], "raw": "\x00"}',  # a NUL byte itself, unescaped
        # Read as infinity, which PostgreSQL refuses when the delivery is stored: kept as rejected all the same.
        "cannot be stored": _delivery(_event(str(uuid.uuid4()))).replace(b'"UPDATE"', b'"UPDATE", "size": 1e400'),
    }
    for body in bodies.values():
        response = _post(client, mine, body)
        assert (response.status_code, response.content) == (200, b"")
    rejected = _inbox(mine)
    assert [e.status for e in rejected] == ["rejected"] * len(bodies)
    for (what, _), event in zip(bodies.items(), rejected, strict=True):
        assert what in event.reason
    assert _inbox(other) == []
    # A delivery with a surrogate pair (an emoji, escaped) is ordinary, and stored as usual.
    assert _post(client, mine, _delivery(_event("\U0001f600" + str(uuid.uuid4())))).status_code == 200
    assert [e.status for e in _inbox(mine)].count("received") == 1


def test_a_delivery_is_answered_quickly(client, xero_pair):
    """Not a speed target (that is bench_webhooks'), a guard against a view that does work it should defer."""
    mine, _ = xero_pair
    body = _delivery(*[_event(str(uuid.uuid4())) for _ in range(10)])
    started = time.perf_counter()
    assert _post(client, mine, body).status_code == 200
    assert time.perf_counter() - started < 2.0
    assert len(_inbox(mine)) == 10


def test_a_delivery_costs_the_token_lookup_one_statement_and_one_queued_run_per_burst(client, xero_pair):
    """The hot path: find the connection by token (once per process and burst), store the event and queue a run
    over the inbox unless one is queued already, in one statement; the delivery is counted in memory, and the counts
    written in one statement once they are due."""
    from django.db import connection as db
    from django.test.utils import CaptureQueriesContext

    mine, other = xero_pair
    connection_cache.clear()

    def statements(send=True):
        with CaptureQueriesContext(db) as queries:
            if send:
                response = _post(client, mine, _delivery(_event(str(uuid.uuid4()))))
                assert response.status_code == 200 and response.content == b""
            else:
                assert webhook_counts_flush() == 3
        names = ("inboundevent", "webhook_token = ", "ormq", "webhookstats")
        return [next((t for t in names if t in q["sql"]), q["sql"]) for q in queries.captured_queries]

    if db.vendor != "postgresql":
        pytest.skip("SQLite stores a delivery in several statements")
    # The first delivery reads the connection, stores and queues the run (and its task).
    assert statements() == ["webhook_token = ", "inboundevent", "ormq"]
    # The next ones find the connection in the process's cache and the run queued: one statement.
    assert statements() == ["inboundevent"]
    assert statements() == ["inboundevent"]
    # The three counts, in one statement.
    assert statements(send=False) == ["webhookstats"]
    assert len(_inbox(mine)) == 3 and _inbox(other) == []
    with tenant_scope(mine.tenant_id):
        assert WebhookStats.objects.get(connection=mine).received == 3
