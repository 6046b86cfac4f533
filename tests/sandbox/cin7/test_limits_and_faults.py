"""Cin7's 60 calls a minute (429, or 503 as the older blueprint says) and every injected fault."""

import time
from datetime import timedelta

import httpx
import pytest
from django.utils import timezone

from sandbox.cin7.generator import generate
from sandbox.cin7.models import Cin7Account
from sandbox.cin7.services import account_set_limit_status, rate_window_expire
from sandbox.faults import fault_profile_set


def spend_minute(client, calls=60):
    for _ in range(calls):
        assert client.get("me").status_code == 200


def test_the_61st_call_in_a_minute_is_refused_with_429_and_retry_after(client_a, client_b):
    spend_minute(client_a)
    refused = client_a.get("saleList")
    assert refused.status_code == 429
    assert refused.json() == {"ErrorCode": 429, "Exception": "You reached 60 calls per minute API limit"}
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    # Another account has its own minute.
    assert client_b.get("saleList").status_code == 200


def test_the_limit_answers_503_when_the_account_is_switched_to_the_older_blueprint(client_a, account_a):
    account_set_limit_status(account=account_a, status=Cin7Account.LimitStatus.SERVICE_UNAVAILABLE)
    spend_minute(client_a)
    refused = client_a.get("customer")
    assert refused.status_code == 503
    assert refused.json()["Exception"] == "You reached 60 calls per minute API limit"


def test_a_new_minute_allows_calls_again(client_a, account_a):
    spend_minute(client_a)
    assert client_a.get("me").status_code == 429
    rate_window_expire(account=account_a)
    assert client_a.get("me").status_code == 200


def test_rate_limits_can_be_switched_off_per_account(client_a, account_a):
    fault_profile_set(system="cin7", account=account_a.account_id, rate_limits_enabled=False)
    spend_minute(client_a, 70)


def test_outage_answers_503_in_cin7s_shape(client_a, client_b, account_a):
    fault_profile_set(system="cin7", account=account_a.account_id, outage_until=timezone.now() + timedelta(minutes=5))
    response = client_a.get("saleList")
    assert response.status_code == 503
    assert response.json() == {"ErrorCode": 503, "Exception": "Service is temporarily unavailable"}
    assert client_b.get("saleList").status_code == 200


def test_injected_errors_answer_500_in_cin7s_shape(client_a, account_a):
    fault_profile_set(system="cin7", account=account_a.account_id, error_rate=1.0)
    response = client_a.get("customer")
    assert response.status_code == 500 and response.json()["ErrorCode"] == 500


def test_injected_throttle_is_an_extra_429(client_a, account_a):
    fault_profile_set(system="cin7", account=account_a.account_id, throttle_rate=1.0)
    response = client_a.get("customer")
    assert response.status_code == 429 and "Retry-After" in response.headers


def test_latency_delays_the_answer(client_a, account_a):
    fault_profile_set(system="cin7", account=account_a.account_id, latency_ms=150)
    started = time.monotonic()
    assert client_a.get("me").status_code == 200
    assert time.monotonic() - started >= 0.15


def test_dropped_write_times_out_but_the_payment_is_applied(client_a, account_a):
    generate(account=account_a.account_id, seed=21, customers=5, orders=30)
    entry = client_a.get("saleList", params={"Status": "INVOICED"}).json()["SaleList"][0]
    sale = client_a.get("sale", params={"ID": entry["SaleID"]}).json()
    invoice = sale["Invoices"][0]
    fault_profile_set(system="cin7", account=account_a.account_id, drop_rate=1.0)
    assert client_a.get("me").status_code == 200  # reads are never dropped
    with pytest.raises(httpx.ReadTimeout):
        client_a.post("sale/payment", json={"SaleID": sale["ID"], "TaskID": invoice["TaskID"], "Amount": 1})
    after = client_a.get("sale", params={"ID": sale["ID"]}).json()["Invoices"][0]["Payments"]
    assert len(after) == len(invoice["Payments"]) + 1 and after[-1]["Amount"] == 1
