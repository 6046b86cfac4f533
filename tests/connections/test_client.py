"""The base client: error classification, retries, logging, authentication per provider, call counters."""

import json
import logging
import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from connections.client import BaseClient, backoff_delay, parse_retry_after
from connections.models import ConnectionDailyUsage
from connections.providers.cin7.client import Cin7Client
from connections.providers.gorgias.client import GorgiasClient
from connections.providers.magento.client import MagentoClient
from connections.providers.registry import provider_get
from connections.providers.xero.client import XeroClient
from core.errors import ProviderAuthError, RequestError, RetryableError
from tenants.scoping import tenant_scope

SECRET = "mag-token-very-secret-4411"


class Remote:
    """A scripted remote: answers from a list (the last one repeats) and records every request."""

    def __init__(self, *responses):
        self.responses = list(responses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.responses.pop(0) if len(self.responses) > 1 else self.responses[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def magento(remote, **kwargs):
    sleeps = kwargs.pop("sleeps", [])
    return MagentoClient(
        credentials={"access_token": SECRET},
        base_url="https://shop.example.com/rest/default",
        transport=httpx.MockTransport(remote),
        sleep=sleeps.append,
        rng=random.Random(7),
        **kwargs,
    )


@pytest.mark.parametrize("status", [401, 403])
def test_auth_failures_are_provider_auth_errors_and_never_retried(status):
    remote = Remote(
        httpx.Response(
            status,
            json={
                "message": "The consumer isn't authorized to access %resources.",
                "parameters": {"resources": "Magento_Sales::actions_view"},
            },
        )
    )
    with pytest.raises(ProviderAuthError) as caught:
        magento(remote).get("V1/orders")
    assert len(remote.requests) == 1
    assert "Magento_Sales::actions_view" in caught.value.message
    assert caught.value.extra["status"] == status


def test_other_4xx_are_request_errors_with_the_remotes_own_words():
    remote = Remote(httpx.Response(400, json={"message": "Invalid product data: %1", "parameters": ["sku is empty"]}))
    with pytest.raises(RequestError) as caught:
        magento(remote).put("V1/products/x", json_body={})
    assert "Invalid product data: sku is empty" in caught.value.message
    assert len(remote.requests) == 1


@pytest.mark.parametrize(
    "failure",
    [
        httpx.Response(500, text="boom"),
        httpx.Response(503, text="Organisation offline"),
        httpx.Response(429, headers={"Retry-After": "1"}),
        httpx.ReadTimeout("slow"),
        httpx.ConnectError("refused"),
    ],
    ids=["500", "503", "429", "timeout", "network"],
)
def test_passing_failures_are_retried_for_get_then_succeed(failure):
    sleeps = []
    remote = Remote(failure, failure, httpx.Response(200, json={"ok": True}))
    response = magento(remote, sleeps=sleeps).get("V1/orders")
    assert response.json() == {"ok": True}
    assert len(remote.requests) == 3
    assert len(sleeps) == 2


def test_retry_after_is_honoured_before_backoff():
    sleeps = []
    remote = Remote(httpx.Response(429, headers={"Retry-After": "1.5"}), httpx.Response(200, json={}))
    magento(remote, sleeps=sleeps).get("V1/orders")
    assert sleeps == [1.5]


def test_a_long_retry_after_is_not_slept_in_the_worker():
    sleeps = []
    remote = Remote(httpx.Response(429, headers={"Retry-After": "120"}), httpx.Response(200, json={}))
    with pytest.raises(RetryableError) as caught:
        magento(remote, sleeps=sleeps).get("V1/orders")
    assert caught.value.retry_after == 120
    assert sleeps == [] and len(remote.requests) == 1


def test_gives_up_after_max_attempts_with_a_retryable_error():
    sleeps = []
    remote = Remote(httpx.Response(502, text="bad gateway"))
    with pytest.raises(RetryableError) as caught:
        magento(remote, sleeps=sleeps, max_attempts=3).get("V1/orders")
    assert len(remote.requests) == 3 and len(sleeps) == 2
    assert caught.value.code == "provider_unavailable"


def test_post_without_idempotency_key_is_never_retried():
    remote = Remote(httpx.ReadTimeout("lost answer"), httpx.Response(200, json={}))
    with pytest.raises(RetryableError) as caught:
        magento(remote).post("V1/orders", json_body={"a": 1})
    assert len(remote.requests) == 1
    assert caught.value.code == "provider_timeout"


def test_post_with_an_idempotency_key_is_retried_with_the_same_key():
    remote = Remote(httpx.Response(503), httpx.Response(200, json={}))
    magento(remote).post("V1/orders", json_body={"a": 1}, idempotency_key="job-42")
    assert len(remote.requests) == 2
    assert {r.headers["Idempotency-Key"] for r in remote.requests} == {"job-42"}


def test_a_write_whose_answer_was_lost_stays_maybe_applied_when_its_retry_is_throttled():
    # The caller decides from this whether to look the record up before sending it again.
    remote = Remote(httpx.ReadTimeout("lost answer"), httpx.Response(429, headers={"Retry-After": "120"}))
    with pytest.raises(RetryableError) as caught:
        magento(remote).post("V1/orders", json_body={"a": 1}, idempotency_key="job-42")
    assert len(remote.requests) == 2
    assert caught.value.code == "provider_rate_limited" and caught.value.maybe_applied


def test_a_throttled_write_was_not_applied():
    remote = Remote(httpx.Response(429, headers={"Retry-After": "120"}))
    with pytest.raises(RetryableError) as caught:
        magento(remote).post("V1/orders", json_body={"a": 1}, idempotency_key="job-42")
    assert not caught.value.maybe_applied
    remote = Remote(httpx.Response(503))
    with pytest.raises(RetryableError) as caught:
        magento(remote, max_attempts=1).post("V1/orders", json_body={"a": 1}, idempotency_key="job-42")
    assert caught.value.maybe_applied


def test_backoff_is_capped_with_full_jitter():
    rng = random.Random(3)
    delays = [backoff_delay(attempt, base=0.5, cap=4.0, rng=rng) for attempt in range(1, 40)]
    assert all(0 <= d <= 4.0 for d in delays)
    assert max(delays[5:]) > 2.0  # it does reach toward the cap
    assert all(backoff_delay(1, base=0.5, cap=4.0, rng=random.Random(i)) <= 0.5 for i in range(50))
    sleeps = []
    remote = Remote(httpx.Response(500))
    with pytest.raises(RetryableError):
        magento(remote, sleeps=sleeps, max_attempts=8, backoff_base=1.0, backoff_cap=1.5, max_wait=10).get("V1/x")
    assert len(sleeps) == 7 and max(sleeps) <= 1.5


def test_retry_after_parsing():
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_retry_after("30") == 30
    assert parse_retry_after(format_datetime(now + timedelta(seconds=90), usegmt=True), now=now) == 90
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


def test_one_log_line_per_call_without_secrets_or_query(caplog):
    caplog.set_level(logging.INFO, logger="connections.client")
    remote = Remote(httpx.Response(500, text=f"echo {SECRET}"), httpx.Response(200, json={}))
    magento(remote).get("V1/orders", params={"searchCriteria[pageSize]": 5, "token": SECRET})
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "connections.client"]
    assert [(line["status"], line["attempt"]) for line in lines] == [(500, 1), (200, 2)]
    assert lines[0]["path"] == "/rest/default/V1/orders"
    assert {"connection_id", "provider", "method", "duration_ms"} <= set(lines[0])
    assert SECRET not in caplog.text


def test_error_messages_never_echo_credentials():
    remote = Remote(httpx.Response(400, json={"message": f"bad token {SECRET}"}))
    with pytest.raises(RequestError) as caught:
        magento(remote).get("V1/orders")
    assert SECRET not in str(caught.value) and "[redacted]" in caught.value.message


def test_magento_bearer_and_oauth1_signing():
    remote = Remote(httpx.Response(200, json={}))
    magento(remote).get("V1/orders")
    assert remote.requests[0].headers["Authorization"] == f"Bearer {SECRET}"

    signed = Remote(httpx.Response(200, json={}))
    client = MagentoClient(
        credentials={
            "access_token": "tok",
            "consumer_key": "ck",
            # Secrets no signature or nonce can contain ("-" is in neither's alphabet): two letters were found in
            # the random signature about once in a hundred runs.
            "consumer_secret": "consumer-secret",
            "access_token_secret": "token-secret",
        },
        base_url="https://shop.example.com/rest/default",
        transport=httpx.MockTransport(signed),
    )
    client.get("V1/orders", params={"searchCriteria[pageSize]": 1})
    header = signed.requests[0].headers["Authorization"]
    assert header.startswith("OAuth ")
    assert 'oauth_signature_method="HMAC-SHA256"' in header and 'oauth_consumer_key="ck"' in header
    # The secrets sign; they are never sent.
    assert "consumer-secret" not in header and "token-secret" not in header


def test_cin7_and_gorgias_authentication_and_error_bodies():
    remote = Remote(httpx.Response(400, json=[{"ErrorCode": 400, "Exception": "SaleID is not valid"}]))
    cin7 = Cin7Client(
        credentials={"account_id": "acc-guid", "application_key": "app-key-1"},
        transport=httpx.MockTransport(remote),
    )
    with pytest.raises(RequestError, match="SaleID is not valid"):
        cin7.get("sale", params={"ID": "x"})
    sent = remote.requests[0]
    assert sent.headers["api-auth-accountid"] == "acc-guid" and sent.headers["api-auth-applicationkey"] == "app-key-1"
    assert str(sent.url).startswith("https://inventory.dearsystems.com/ExternalApi/v2/sale")

    remote = Remote(httpx.Response(400, json={"error": {"msg": "Failed", "data": {"email": ["Not a valid email."]}}}))
    gorgias = GorgiasClient(
        credentials={"username": "ops@example.com", "api_key": "gk"},
        base_url="https://acme.gorgias.com/api",
        transport=httpx.MockTransport(remote),
    )
    with pytest.raises(RequestError, match="email: Not a valid email"):
        gorgias.post("customers", json_body={})
    assert (
        remote.requests[0].headers["Authorization"]
        == "Basic " + __import__("base64").b64encode(b"ops@example.com:gk").decode()
    )


def test_xero_error_bodies_and_the_access_token_hook():
    validation = {
        "ErrorNumber": 10,
        "Type": "ValidationException",
        "Elements": [{"ValidationErrors": [{"Message": "Account code '999' is not a valid code"}]}],
    }
    tokens = iter(["expired-token", "fresh-token"])
    calls = []

    def access_token_provider(client, *, force_refresh=False):
        calls.append(force_refresh)
        return next(tokens)

    remote = Remote(
        httpx.Response(401, json={"Title": "Unauthorized", "Detail": "TokenExpired: token expired"}),
        httpx.Response(400, json=validation),
    )
    client = XeroClient(
        base_url="https://api.xero.com/api.xro/2.0",
        transport=httpx.MockTransport(remote),
        access_token_provider=access_token_provider,
    )
    with pytest.raises(RequestError, match="Account code '999' is not a valid code"):
        client.put("Invoices", json_body={})
    assert calls == [False, True]
    assert [r.headers["Authorization"] for r in remote.requests] == ["Bearer expired-token", "Bearer fresh-token"]


def test_a_generic_client_needs_only_credentials_and_a_base_url():
    remote = Remote(httpx.Response(204))
    client = BaseClient(
        provider=provider_get("magento"),
        credentials={"access_token": "generic-secret-77"},
        base_url="https://shop.example.com/rest/all",
        transport=httpx.MockTransport(remote),
    )
    assert client.delete("V1/x").status_code == 204
    assert str(remote.requests[0].url) == "https://shop.example.com/rest/all/V1/x"
    assert "generic-secret-77" not in repr(client) and "generic-secret-77" not in repr(client.credentials)


@pytest.mark.django_db
def test_calls_are_counted_per_connection_per_day(world, keys, connect):
    a = connect(world.tenant_a1)
    b = connect(world.tenant_b1)
    remote = Remote(httpx.Response(500), httpx.Response(200, json={}))
    with tenant_scope(world.tenant_a1):
        with MagentoClient(connection=a, transport=httpx.MockTransport(remote), sleep=lambda s: None) as client:
            client.get("V1/orders")
            client.get("V1/orders")
        assert client.credentials["access_token"].startswith("mag-secret-")
        usage = ConnectionDailyUsage.objects.get(connection=a)
        assert usage.calls == 3
        a.refresh_from_db()
        assert a.last_success_at is not None
    with tenant_scope(world.tenant_b1):
        assert not ConnectionDailyUsage.objects.filter(connection=b).exists()
