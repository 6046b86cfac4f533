"""Gorgias' leaky bucket (40 calls, leaking 2 a second), injected faults, and HTTP-integration webhooks."""

import json
import time
from datetime import timedelta

import httpx
import pytest
from django.utils import timezone

from sandbox.faults import fault_profile_set
from sandbox.gorgias.webhooks import webhook_deliveries_deliver

TICKET = {
    "subject": "Where is my order?",
    "channel": "email",
    "messages": [{"sender": {"email": "buyer@example.com"}, "body_text": "Order #1001?", "channel": "email"}],
}


@pytest.fixture
def stopped_clock(monkeypatch):
    """Stop the bucket's clock so levels are exact however slow the machine is; tests move it on explicitly."""
    from sandbox.gorgias import services

    moment = {"now": timezone.now()}
    monkeypatch.setattr(services, "bucket_clock", lambda: moment["now"])
    return moment


def test_forty_calls_fill_the_bucket_and_the_41st_is_429_with_retry_after(client_a, client_b, stopped_clock):
    for used in range(1, 41):
        response = client_a.get("customers")
        assert response.status_code == 200
        assert response.headers["X-Gorgias-Account-Api-Call-Limit"] == f"{used}/40"
    refused = client_a.get("customers")
    assert refused.status_code == 429
    assert int(refused.headers["Retry-after"]) >= 1
    assert refused.headers["X-Gorgias-Account-Api-Call-Limit"] == "40/40"
    assert "msg" in refused.json()["error"]
    # Each API key has its own bucket.
    assert client_b.get("customers").headers["X-Gorgias-Account-Api-Call-Limit"] == "1/40"


def test_the_bucket_leaks_two_calls_a_second(client_a, helpdesk_a, stopped_clock):
    for _ in range(40):
        client_a.get("customers")
    # 5 seconds pass: 10 calls have leaked out.
    stopped_clock["now"] += timedelta(seconds=5)
    response = client_a.get("customers")
    assert response.status_code == 200
    assert response.headers["X-Gorgias-Account-Api-Call-Limit"] == "31/40"
    stopped_clock["now"] += timedelta(seconds=60)
    assert client_a.get("customers").headers["X-Gorgias-Account-Api-Call-Limit"] == "1/40"


def test_outage_error_throttle_and_latency(client_a, client_b, helpdesk_a):
    fault_profile_set(system="gorgias", account=helpdesk_a.domain, outage_until=timezone.now() + timedelta(minutes=1))
    outage = client_a.get("customers")
    assert outage.status_code == 503 and outage.json()["error"]["msg"]
    assert client_b.get("customers").status_code == 200
    fault_profile_set(system="gorgias", account=helpdesk_a.domain, outage_until=None, error_rate=1.0)
    error = client_a.get("customers")
    assert error.status_code == 500 and "error" in error.json()
    fault_profile_set(system="gorgias", account=helpdesk_a.domain, error_rate=0.0, throttle_rate=1.0)
    throttled = client_a.get("customers")
    assert throttled.status_code == 429 and throttled.headers["Retry-after"]
    fault_profile_set(system="gorgias", account=helpdesk_a.domain, throttle_rate=0.0, latency_ms=150)
    started = time.monotonic()
    assert client_a.get("customers").status_code == 200
    assert time.monotonic() - started >= 0.15


def test_dropped_write_times_out_but_the_ticket_exists(client_a, helpdesk_a):
    fault_profile_set(system="gorgias", account=helpdesk_a.domain, drop_rate=1.0)
    with pytest.raises(httpx.ReadTimeout):
        client_a.post("tickets", json=TICKET)
    tickets = client_a.get("tickets").json()["data"]
    assert [t["subject"] for t in tickets] == ["Where is my order?"]


def test_ticket_without_sender_is_400_in_gorgias_shape(client_a):
    response = client_a.post("tickets", json={"subject": "x", "messages": [{"body_text": "hi"}]})
    assert response.status_code == 400
    assert response.json()["error"]["msg"] == "Failed to create ticket"
    assert response.json()["error"]["data"]["messages"]


class Receiver:
    def __init__(self, *statuses):
        self.requests, self.statuses = [], list(statuses)

    def __call__(self, request):
        self.requests.append(request)
        return httpx.Response(self.statuses.pop(0) if self.statuses else 200)

    def client(self):
        return httpx.Client(transport=httpx.MockTransport(self))


def http_integration(client, **triggers):
    body = {
        "type": "http",
        "name": "Ledgerbridge",
        "http": {
            "url": "https://receiver.example/hooks/gorgias/tok-abc123?ticket={{ticket.id}}",
            "method": "POST",
            "headers": {"X-Ledgerbridge-Secret": "s3cret"},
            "form": {"ticket_id": "{{ticket.id}}", "status": "{{ticket.status}}", "email": "{{ticket.customer.email}}"},
            "request_content_type": "application/json",
            "triggers": triggers,
        },
    }
    created = client.post("integrations", json=body)
    assert created.status_code == 201
    return created.json()


def test_ticket_events_call_the_http_integration_with_its_headers(client_a, client_b):
    http_integration(client_a, **{"ticket-created": True, "ticket-updated": True})
    http_integration(client_b, **{"ticket-created": True})  # another helpdesk: must not fire
    ticket = client_a.post("tickets", json=TICKET).json()
    client_a.put(f"tickets/{ticket['id']}", json={"status": "closed"})
    client_a.post(f"tickets/{ticket['id']}/messages", json={"sender": {"email": "a@b.c"}, "body_text": "x"})
    receiver = Receiver()
    assert webhook_deliveries_deliver(client=receiver.client()) == {"delivered": 2, "retrying": 0, "failed": 0}
    created, updated = receiver.requests
    assert str(created.url) == f"https://receiver.example/hooks/gorgias/tok-abc123?ticket={ticket['id']}"
    assert created.headers["X-Ledgerbridge-Secret"] == "s3cret"
    assert json.loads(created.content) == {"ticket_id": ticket["id"], "status": "open", "email": "buyer@example.com"}
    assert json.loads(updated.content)["status"] == "closed"


def test_failed_http_integration_calls_are_retried_then_given_up(client_a):
    http_integration(client_a, **{"ticket-created": True})
    client_a.post("tickets", json=TICKET)
    receiver = Receiver(500, 502, 500, 500)
    now = timezone.now()
    assert webhook_deliveries_deliver(client=receiver.client(), now=now)["retrying"] == 1
    assert webhook_deliveries_deliver(client=receiver.client(), now=now + timedelta(seconds=30))["retrying"] == 0
    outcomes = [
        webhook_deliveries_deliver(client=receiver.client(), now=now + timedelta(minutes=m))
        for m in (1, 1 + 5, 1 + 5 + 30)
    ]
    assert [o["retrying"] for o in outcomes[:2]] == [1, 1] and outcomes[2]["failed"] == 1
    assert len(receiver.requests) == 4


def test_a_retry_that_succeeds_is_delivered_once(client_a):
    http_integration(client_a, ticket_created=True)  # the older underscore spelling
    client_a.post("tickets", json=TICKET)
    receiver = Receiver(503)
    now = timezone.now()
    assert webhook_deliveries_deliver(client=receiver.client(), now=now)["retrying"] == 1
    assert webhook_deliveries_deliver(client=receiver.client(), now=now + timedelta(minutes=1))["delivered"] == 1
    assert webhook_deliveries_deliver(client=receiver.client(), now=now + timedelta(hours=1))["delivered"] == 0
    assert len(receiver.requests) == 2
