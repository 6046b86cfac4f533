"""The web server's ASGI application (sync.inbound.asgi.WebhookFront): a delivery is answered by the same WSGI code
as before, its body is read no further than the size limit, and every other request reaches Django through a2wsgi.

The application runs requests in threads of its pool, each with its own database connection, so these tests commit
(transaction=True) instead of running inside the test's transaction.
"""

import asyncio
import json

import pytest

from config import asgi, gunicorn, wsgi
from sync.inbound.asgi import WebhookFront
from sync.inbound.webhooks import connection_cache
from sync.models import InboundEvent
from tenants.scoping import tenant_scope
from tests.factories import ConnectionFactory
from tests.sync.webhook_helpers import TEST_XERO_KEY, xero_invoice_delivery, xero_sign

pytestmark = pytest.mark.django_db(transaction=True)

ORG = "5e0c7a5b-1f0e-4d7a-8d61-2b3c9e4f6a10"


@pytest.fixture
def front():
    application = WebhookFront(wsgi.application, threads=4)
    yield application
    application.executor.shutdown(wait=True)


@pytest.fixture
def mine(world, settings):
    settings.XERO_WEBHOOK_KEY = TEST_XERO_KEY
    connection_cache.clear()
    ConnectionFactory(tenant=world.tenant_b1, provider="xero", external_account_id=ORG + "-b", credentials={})
    return ConnectionFactory(tenant=world.tenant_a1, provider="xero", external_account_id=ORG, credentials={})


class Client:
    """Sends one request to an ASGI application, its body in `chunks`, and records what it read and answered."""

    def __init__(self, application, loop=None):
        self.application = application
        self.loop = loop  # one event loop for several requests, as a server's; else a new one per request

    def send(self, method, path, chunks=(b"",), headers=(), *, declared_length=True, disconnect=False):
        body = b"".join(chunks)
        header_list = [(b"host", b"127.0.0.1"), (b"content-type", b"application/json")]
        if declared_length:
            header_list.append((b"content-length", str(body and len(body) or 0).encode()))
        header_list += [(name.encode(), value.encode()) for name, value in headers]
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "root_path": "",
            "query_string": b"",
            "headers": header_list,
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
        }
        self.reads = 0
        self.sent = []
        messages = (
            [{"type": "http.disconnect"}]
            if disconnect
            else [
                {"type": "http.request", "body": chunk, "more_body": index < len(chunks) - 1}
                for index, chunk in enumerate(chunks)
            ]
        )

        async def receive():
            self.reads += 1
            if self.reads <= len(messages):
                return messages[self.reads - 1]
            await asyncio.sleep(3600)  # a client that sends nothing more

        async def send(message):
            self.sent.append(message)

        run = asyncio.run if self.loop is None else self.loop.run_until_complete
        run(asyncio.wait_for(self.application(scope, receive, send), timeout=30))
        if not self.sent:
            return None, None, None
        start, *bodies = self.sent
        return start["status"], dict(start["headers"]), b"".join(part.get("body", b"") for part in bodies)


def _stored(connection) -> list[InboundEvent]:
    with tenant_scope(connection.tenant_id):
        return list(InboundEvent.objects.filter(connection=connection))


def test_the_web_server_serves_the_front_over_the_project():
    assert gunicorn.wsgi_app == "config.asgi:application"
    assert gunicorn.worker_class == "uvicorn_worker.UvicornWorker"
    assert gunicorn.reuse_port  # a socket per worker: connections spread evenly over the workers
    assert isinstance(asgi.application, WebhookFront)
    assert asgi.application.application is wsgi.application


def test_a_valid_delivery_is_stored_and_answered_as_xero_expects(front, mine):
    body = xero_invoice_delivery(ORG)
    path = f"/webhooks/xero/{mine.webhook_token}/"
    status, headers, content = Client(front).send("POST", path, [body], [("x-xero-signature", xero_sign(body))])
    assert (status, content) == (200, b"")
    assert headers[b"content-length"] == b"0" and headers[b"x-content-type-options"] == b"nosniff"
    assert len(_stored(mine)) == 1
    assert _stored(mine)[0].body["resourceId"] == json.loads(body)["events"][0]["resourceId"]


def test_a_delivery_sent_in_chunks_without_a_length_is_read_whole(front, mine):
    body = xero_invoice_delivery(ORG)
    path = f"/webhooks/xero/{mine.webhook_token}/"
    chunks = [body[:40], body[40:90], body[90:]]
    status, _, _ = Client(front).send(
        "POST", path, chunks, [("x-xero-signature", xero_sign(body))], declared_length=False
    )
    assert status == 200
    assert len(_stored(mine)) == 1


def test_a_bad_signature_stores_nothing(front, mine):
    body = xero_invoice_delivery(ORG)
    path = f"/webhooks/xero/{mine.webhook_token}/"
    status, _, content = Client(front).send("POST", path, [body], [("x-xero-signature", xero_sign(body, "other"))])
    assert status == 401 and json.loads(content)["code"] == "bad_signature"
    assert _stored(mine) == []


def test_a_declared_length_over_the_limit_is_refused_without_reading_the_body(front, mine, settings):
    settings.API_MAX_BODY_BYTES = 100
    client = Client(front)
    body = xero_invoice_delivery(ORG)
    status, _, content = client.send(
        "POST", f"/webhooks/xero/{mine.webhook_token}/", [body], [("x-xero-signature", xero_sign(body))]
    )
    assert status == 413 and json.loads(content)["extra"]["limit_bytes"] == 100
    assert client.reads == 0
    assert _stored(mine) == []


def test_a_chunked_body_is_read_no_further_than_the_limit(front, mine, settings):
    settings.API_MAX_BODY_BYTES = 100
    client = Client(front)
    chunks = [b"x" * 60] * 10  # 600 bytes in ten chunks, no length declared
    status, _, content = client.send(
        "POST", f"/webhooks/xero/{mine.webhook_token}/", chunks, [("x-xero-signature", "x")], declared_length=False
    )
    assert status == 413 and json.loads(content)["code"] == "payload_too_large"
    assert client.reads == 2  # 120 bytes read: past the limit, the other eight chunks are left unread
    assert _stored(mine) == []


def test_a_client_gone_before_its_body_gets_no_answer_and_stores_nothing(front, mine):
    client = Client(front)
    assert client.send("POST", f"/webhooks/xero/{mine.webhook_token}/", disconnect=True) == (None, None, None)
    assert _stored(mine) == []


def test_every_other_request_reaches_django(front, mine):
    status, _, content = Client(front).send("GET", "/healthz")
    assert status == 200 and json.loads(content)["status"] == "ok"
    # A webhook path asked with another method still gets Django's answer.
    assert Client(front).send("GET", f"/webhooks/xero/{mine.webhook_token}/")[0] == 405
    # An unknown token under /webhooks/ is Django's 404, from the same view.
    body = xero_invoice_delivery(ORG)
    assert Client(front).send("POST", "/webhooks/xero/nope/", [body], [("x-xero-signature", xero_sign(body))])[0] == 404
