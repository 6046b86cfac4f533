import time
from datetime import timedelta

import httpx
import pytest
from django.utils import timezone

from sandbox.faults import fault_profile_set


def test_injected_error_is_a_500_in_magentos_shape(stores):
    a, b = stores
    fault_profile_set(system="magento", account=a.code, error_rate=1.0)
    response = a.get("orders/3")
    assert response.status_code == 500
    assert response.json()["message"] == "Internal Error. Details are available in Magento log file. Report ID: %1"
    assert response.json()["parameters"][0].startswith("webapi-")
    # Faults belong to one store.
    assert b.get("orders/3").status_code == 404


def test_throttle_is_a_429_with_retry_after(stores):
    a, _ = stores
    fault_profile_set(system="magento", account=a.code, throttle_rate=1.0)
    response = a.get("orders/3")
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0


def test_outage_is_a_503_until_it_ends(stores):
    a, _ = stores
    fault_profile_set(system="magento", account=a.code, outage_until=timezone.now() + timedelta(minutes=5))
    assert a.get("orders/3").status_code == 503
    fault_profile_set(system="magento", account=a.code, outage_until=timezone.now() - timedelta(seconds=1))
    assert a.get("orders/3").status_code == 200


def test_dropped_write_times_out_but_is_applied(stores):
    a, _ = stores
    fault_profile_set(system="magento", account=a.code, drop_rate=1.0)
    with pytest.raises(httpx.ReadTimeout):
        a.post("orders/3/comments", {"statusHistory": {"comment": "lost answer"}})
    fault_profile_set(system="magento", account=a.code, drop_rate=0.0)
    assert a.get("orders/3").json()["status_histories"][0]["comment"] == "lost answer"


def test_drop_never_hits_reads(stores):
    a, _ = stores
    fault_profile_set(system="magento", account=a.code, drop_rate=1.0)
    assert a.get("orders/3").status_code == 200


def test_latency_is_added(stores):
    a, _ = stores
    fault_profile_set(system="magento", account=a.code, latency_ms=300)
    started = time.monotonic()
    assert a.get("orders/3").status_code == 200
    assert time.monotonic() - started >= 0.3


def test_same_seed_same_faults(stores):
    a, _ = stores

    def run():
        fault_profile_set(system="magento", account=a.code, error_rate=0.5, seed=42, requests_seen=0)
        return [a.get("orders/3").status_code for _ in range(12)]

    first = run()
    assert first == run()
    assert {200, 500} == set(first)
