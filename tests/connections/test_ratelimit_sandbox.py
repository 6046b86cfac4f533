"""More load than Xero allows, against the simulated Xero with its own limits on: our limiter keeps every worker
within 60 calls a minute and 5 in flight, so Xero never has to refuse one."""

import threading

import httpx
import pytest
from django.db import connections as db_connections

from core.errors import RetryableError
from sandbox.transport import SandboxTransport
from tenants.scoping import tenant_scope
from tests.sandbox_world import xero_client, xero_connection_for

pytestmark = [pytest.mark.needs_postgres, pytest.mark.django_db(transaction=True)]


class Watching(SandboxTransport):
    """Counts what actually reaches Xero: calls, how many at once at most, and any 429."""

    def __init__(self):
        super().__init__()
        self.lock = threading.Lock()
        self.sent = self.in_flight = self.max_in_flight = self.refused = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.sent += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            response = super().handle_request(request)
        finally:
            with self.lock:
                self.in_flight -= 1
        if response.status_code == 429:
            with self.lock:
                self.refused += 1
        return response


def test_twenty_workers_against_the_simulated_xero_stay_within_its_limits(world):
    with tenant_scope(world.tenant_a1):
        connection, _ = xero_connection_for(world.tenant_a1, name="Busy Ltd", country="AU")
    watching = Watching()
    held_back = []

    def worker():
        try:
            with tenant_scope(world.tenant_a1):
                client = xero_client(connection, max_wait=2.0)
                client._http._transport = watching
                for _ in range(4):
                    try:
                        client.get("Organisation")
                    except RetryableError as exc:
                        # The minute is used up: rescheduled by the caller, never sent.
                        held_back.append(exc.code)
        finally:
            db_connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert watching.refused == 0, "the simulated Xero had to refuse a call"
    assert watching.sent <= 60
    assert watching.max_in_flight <= 5
    assert watching.sent + len(held_back) == 80
    assert set(held_back) <= {"rate_limited"}
