"""The shared per-connection rate limiter: rolling window, in-flight cap, 429s and the day budget."""

import threading
from datetime import timedelta

import httpx
import pytest
from django.db import connections as db_connections
from django.utils import timezone

from connections.models import Connection
from connections.providers.base import RateLimits
from connections.providers.xero.client import XeroClient
from connections.ratelimit import RateLimiter
from core.errors import RetryableError
from tenants.scoping import tenant_scope
from tests.connections.conftest import ScaledClock
from tests.factories import ConnectionFactory

XERO_TOKENS = {"access_token": "xero-access-secret-1", "refresh_token": "xero-refresh-secret-1"}


def xero_connection(tenant, **kwargs):
    return ConnectionFactory(
        tenant=tenant,
        provider="xero",
        external_account_id=f"org-{tenant.pk}",
        base_url="",
        credentials=XERO_TOKENS,
        **kwargs,
    )


@pytest.mark.needs_postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_workers_never_exceed_60_a_minute_or_5_in_flight(world, keys):
    """20 threads, 120 calls, Xero's real limits on a clock running 120x fast (a minute lasts half a second)."""
    conn = xero_connection(world.tenant_a1)
    other = xero_connection(world.tenant_b1)
    clock = ScaledClock(speed=120)
    lock = threading.Lock()
    state = {"in_flight": 0, "max_in_flight": 0}
    grants, errors = [], []

    def remote(request):
        with lock:
            state["in_flight"] += 1
            state["max_in_flight"] = max(state["max_in_flight"], state["in_flight"])
            if request.headers["xero-tenant-id"] == conn.external_account_id:
                grants.append(request.extensions["connections.rate_slot"].started_at)
        clock.sleep(0.5)  # half a (fast) second of remote work
        with lock:
            state["in_flight"] -= 1
        return httpx.Response(200, json={"Contacts": []})

    transport = httpx.MockTransport(remote)

    def worker(connection, calls):
        try:
            limiter = RateLimiter.for_connection(
                connection, clock=clock.now, sleep=clock.sleep, max_wait=600, poll_interval=0.5
            )
            with XeroClient(connection=connection, transport=transport, rate_limiter=limiter) as client:
                for _ in range(calls):
                    client.get("Contacts")
        except Exception as exc:  # noqa: BLE001 — surfaced by the assertion below
            errors.append(exc)
        finally:
            db_connections.close_all()

    threads = [threading.Thread(target=worker, args=(conn, 6)) for _ in range(20)]
    threads.append(threading.Thread(target=worker, args=(other, 5)))  # another tenant's connection, in parallel
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not errors, errors
    assert len(grants) == 120
    assert state["max_in_flight"] <= 5 + 1  # 5 for `conn`, at most 1 for `other` (a single thread)
    grants.sort()
    window = timedelta(seconds=60)
    worst = max(sum(1 for t in grants[i:] if t < start + window) for i, start in enumerate(grants))
    assert worst <= 60, f"{worst} calls within one minute"
    assert grants[-1] - grants[0] >= window, "120 calls cannot fit in one minute"


@pytest.mark.needs_postgres
@pytest.mark.django_db(transaction=True)
def test_in_flight_never_exceeds_five(world, keys):
    conn = xero_connection(world.tenant_a1)
    clock = ScaledClock(speed=1)
    lock = threading.Lock()
    state = {"in_flight": 0, "max": 0}
    errors = []

    def remote(request):
        with lock:
            state["in_flight"] += 1
            state["max"] = max(state["max"], state["in_flight"])
        # Long enough that 20 eager workers would pile up far beyond 5, and that calls still overlap when a busy
        # machine makes each slot's database round trip slow.
        clock.sleep(0.3)
        with lock:
            state["in_flight"] -= 1
        return httpx.Response(200, json={})

    def worker():
        try:
            limiter = RateLimiter.for_connection(
                conn,
                limits=RateLimits(calls=None, max_in_flight=5),
                clock=clock.now,
                sleep=clock.sleep,
                max_wait=600,
                poll_interval=0.05,
            )
            with XeroClient(connection=conn, transport=httpx.MockTransport(remote), rate_limiter=limiter) as client:
                for _ in range(2):
                    client.get("Organisation")
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            db_connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert state["max"] <= 5
    assert state["max"] >= 3, "the limiter should still let calls run side by side"


@pytest.mark.django_db
def test_a_full_window_waits_when_short_and_reschedules_when_long(world, keys, fake_clock):
    conn = xero_connection(world.tenant_a1)
    other = xero_connection(world.tenant_b1)
    limits = RateLimits(calls=3, per_seconds=10)

    def limiter_for(connection, **kw):
        return RateLimiter.for_connection(connection, limits=limits, clock=fake_clock.now, sleep=fake_clock.sleep, **kw)

    limiter = limiter_for(conn, max_wait=2)
    for _ in range(3):
        limiter.release(limiter.acquire())
        fake_clock.advance(1)
    with pytest.raises(RetryableError) as caught:
        limiter.acquire()
    assert caught.value.code == "rate_limited"
    assert caught.value.retry_after == pytest.approx(7.0)
    assert fake_clock.slept == []
    # Another connection's budget is its own.
    limiter_for(other).acquire()
    # Within max_wait, it waits in place instead.
    fake_clock.advance(6)
    limiter.acquire()
    assert fake_clock.slept == [pytest.approx(1.0)]


@pytest.mark.django_db
def test_a_dead_workers_slot_frees_when_its_lease_ends(world, keys, fake_clock):
    conn = xero_connection(world.tenant_a1)
    limiter = RateLimiter.for_connection(
        conn,
        limits=RateLimits(max_in_flight=2),
        clock=fake_clock.now,
        sleep=fake_clock.sleep,
        max_wait=1,
        lease_seconds=30,
    )
    first = limiter.acquire()
    limiter.acquire()  # never released: its worker died
    with pytest.raises(RetryableError, match="concurrent"):
        limiter.acquire()
    limiter.release(first)
    limiter.acquire()
    with pytest.raises(RetryableError):
        limiter.acquire()
    fake_clock.advance(31)
    limiter.acquire()


def _xero(conn, remote):
    return XeroClient(connection=conn, transport=httpx.MockTransport(remote), sleep=lambda s: None)


@pytest.mark.django_db
def test_a_429_blocks_every_worker_until_retry_after(world, keys):
    conn = xero_connection(world.tenant_a1)
    seen = []

    def remote(request):
        seen.append(request)
        return httpx.Response(
            429,
            headers={
                "Retry-After": "30",
                "X-Rate-Limit-Problem": "minute",
                "X-MinLimit-Remaining": "0",
                "X-DayLimit-Remaining": "4000",
            },
        )

    before = timezone.now()
    with pytest.raises(RetryableError) as caught:
        _xero(conn, remote).get("Invoices")
    assert caught.value.retry_after == pytest.approx(30, abs=1)
    with tenant_scope(world.tenant_a1):
        conn.refresh_from_db()
    assert before + timedelta(seconds=29) < conn.blocked_until <= timezone.now() + timedelta(seconds=30)
    assert conn.day_limit_reset_at is None
    # A second worker does not even call: the shared row says wait.
    with pytest.raises(RetryableError) as again:
        _xero(conn, remote).get("Contacts")
    assert len(seen) == 1
    assert again.value.retry_after == pytest.approx(30, abs=1)


@pytest.mark.django_db
def test_a_day_limit_429_parks_the_connection_until_reset(world, keys):
    conn = xero_connection(world.tenant_a1)
    other = xero_connection(world.tenant_b1)
    seen = []

    def remote(request):
        seen.append(request)
        if request.headers["xero-tenant-id"] == other.external_account_id:
            return httpx.Response(200, json={}, headers={"X-DayLimit-Remaining": "4999", "X-MinLimit-Remaining": "59"})
        return httpx.Response(
            429, headers={"Retry-After": "7200", "X-Rate-Limit-Problem": "day", "X-DayLimit-Remaining": "0"}
        )

    with pytest.raises(RetryableError) as caught:
        _xero(conn, remote).get("Invoices")
    assert caught.value.retry_after == pytest.approx(7200, abs=2)
    with tenant_scope(world.tenant_a1):
        conn.refresh_from_db()
    assert conn.day_remaining == 0
    assert conn.day_limit_reset_at > timezone.now() + timedelta(seconds=7100)
    with pytest.raises(RetryableError, match="daily call limit"):
        _xero(conn, remote).get("Invoices")
    assert len(seen) == 1
    # The other tenant's organisation is unaffected, and its budget headers are stored.
    _xero(other, remote).get("Invoices")
    with tenant_scope(world.tenant_b1):
        other.refresh_from_db()
    assert (other.minute_remaining, other.day_remaining, other.day_limit_reset_at) == (59, 4999, None)


@pytest.mark.django_db
def test_a_spent_day_budget_in_the_headers_parks_before_any_429(world, keys):
    conn = xero_connection(world.tenant_a1)
    seen = []

    def remote(request):
        seen.append(request)
        return httpx.Response(200, json={}, headers={"X-DayLimit-Remaining": "0", "X-MinLimit-Remaining": "12"})

    _xero(conn, remote).get("Invoices")
    with pytest.raises(RetryableError) as caught:
        _xero(conn, remote).get("Invoices")
    assert len(seen) == 1
    assert caught.value.retry_after > 3000
    with tenant_scope(world.tenant_a1):
        assert Connection.objects.get(pk=conn.pk).minute_remaining == 12
