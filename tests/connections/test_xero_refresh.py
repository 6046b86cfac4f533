"""Xero token refresh: single-flight across threads, the same refresh token after a network error, invalid_grant,
the proactive refresh of idle token sets, and revocation on disconnect. Everything goes to the sandbox in process."""

import threading
import time
from datetime import timedelta
from urllib.parse import parse_qs

import httpx
import pytest
from django.core import mail
from django.db import close_old_connections
from django.db import connection as db_connection
from django.utils import timezone

from connections import crypto, services
from connections.models import Connection
from connections.providers.xero import oauth
from connections.providers.xero.tokens import (
    xero_access_token,
    xero_client_for,
    xero_token_refresh,
    xero_tokens_refresh_idle,
)
from core.errors import ProviderAuthError, RetryableError
from sandbox.transport import SandboxTransport
from sandbox.xero.models import AccessToken
from sandbox.xero.models import Connection as SandboxConnection
from tenants.scoping import tenant_scope
from tests.connections.test_xero_oauth import configure_sandbox_xero
from tests.sandbox_world import xero_connection_for


class CountingTransport(httpx.BaseTransport):
    """Forwards to the sandbox; records the refresh tokens sent to the token endpoint; can fail the first few."""

    def __init__(self, *, fail_first: int = 0, failure=httpx.ConnectError, forward_then_fail: bool = False):
        self.inner = SandboxTransport()
        self.fail_first = fail_first
        self.failure = failure
        self.forward_then_fail = forward_then_fail
        self.refresh_tokens_sent: list[str] = []
        self.lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/connect/token"):
            form = parse_qs(request.read().decode())
            with self.lock:
                self.refresh_tokens_sent.append(form.get("refresh_token", [""])[0])
                failing = len(self.refresh_tokens_sent) <= self.fail_first
            if failing:
                if self.forward_then_fail:
                    # Xero applied the refresh, and the answer was lost on the way back.
                    self.inner.handle_request(request)
                raise self.failure("simulated network failure", request=request)
        return self.inner.handle_request(request)


@pytest.fixture
def sandbox_xero(settings):
    configure_sandbox_xero(settings)


def _connect(tenant, name, *, expired: bool = True, **extra):
    """A sandbox-connected Xero connection whose stored access token has (or has not) expired."""
    with tenant_scope(tenant):
        connection, org = xero_connection_for(tenant, name=name)
        credentials = {
            "access_token": org["access_token"],
            "refresh_token": org["refresh_token"],
            "expires_at": str(int(time.time()) + (-10 if expired else 1800)),
            **extra,
        }
        services.connection_set_credentials(connection=connection, credentials=credentials)
        connection.refresh_from_db()
    if expired:
        # Xero agrees: the old access token is refused.
        AccessToken.objects.filter(token=org["access_token"]).update(expires_at=timezone.now() - timedelta(seconds=5))
    return connection, org


def _stored(connection):
    with tenant_scope(connection.tenant_id):
        row = Connection.objects.get(pk=connection.pk)
    return row, crypto.credentials_read(row)


def _works(connection) -> str:
    with tenant_scope(connection.tenant_id), xero_client_for(connection, transport=SandboxTransport()) as xero:
        return xero.get("Organisation").json()["Organisations"][0]["Name"]


@pytest.mark.needs_postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_workers_refresh_an_expired_connection_once(world, sandbox_xero):
    connection, org = _connect(world.tenant_a1, "Alpha Traders")
    other, other_org = _connect(world.tenant_b1, "Beta Wholesale")
    transport = CountingTransport()
    barrier = threading.Barrier(20)
    tokens, errors = [], []

    def worker():
        try:
            barrier.wait()
            with tenant_scope(connection.tenant_id):
                row = Connection.objects.get(pk=connection.pk)
            tokens.append(xero_access_token(connection=row, transport=transport))
        except Exception as exc:  # noqa: BLE001 — collected and asserted below
            errors.append(exc)
        finally:
            close_old_connections()
            db_connection.close()

    threads = [threading.Thread(target=worker) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert transport.refresh_tokens_sent == [org["refresh_token"]]
    assert len(tokens) == 20 and len(set(tokens)) == 1 and tokens[0] != org["access_token"]
    row, credentials = _stored(connection)
    assert row.status == Connection.Status.ACTIVE
    assert credentials["access_token"] == tokens[0]
    assert credentials["refresh_token"] != org["refresh_token"]
    assert _works(connection) == "Alpha Traders"
    # The other tenant's connection was not touched.
    assert _stored(other)[1]["refresh_token"] == other_org["refresh_token"]


@pytest.mark.django_db
def test_a_valid_token_is_used_without_calling_xero(world, sandbox_xero):
    connection, org = _connect(world.tenant_a1, "Alpha Traders", expired=False)
    _connect(world.tenant_b1, "Beta Wholesale")
    transport = CountingTransport()
    assert xero_access_token(connection=connection, transport=transport) == org["access_token"]
    assert transport.refresh_tokens_sent == []


@pytest.mark.django_db
def test_a_401_refreshes_once_and_the_call_goes_through(world, sandbox_xero):
    # Our clock says the token is fine, Xero says it is not (revoked access token, clock skew).
    connection, org = _connect(world.tenant_a1, "Alpha Traders", expired=False)
    _connect(world.tenant_b1, "Beta Wholesale")
    AccessToken.objects.filter(token=org["access_token"]).update(expires_at=timezone.now() - timedelta(seconds=5))
    transport = CountingTransport()
    with tenant_scope(world.tenant_a1), xero_client_for(connection, transport=transport) as xero:
        assert xero.get("Organisation").json()["Organisations"][0]["Name"] == "Alpha Traders"
    assert transport.refresh_tokens_sent == [org["refresh_token"]]


@pytest.mark.django_db
def test_a_network_error_retries_the_same_refresh_token(world, sandbox_xero):
    connection, org = _connect(world.tenant_a1, "Alpha Traders")
    _connect(world.tenant_b1, "Beta Wholesale")
    # The first answer is lost after Xero rotated the token; the retry sends the same one (30-minute grace).
    transport = CountingTransport(fail_first=1, failure=httpx.ReadTimeout, forward_then_fail=True)
    token = xero_token_refresh(connection=connection, transport=transport, sleep=lambda seconds: None)
    assert transport.refresh_tokens_sent == [org["refresh_token"], org["refresh_token"]]
    row, credentials = _stored(connection)
    assert row.status == Connection.Status.ACTIVE and credentials["access_token"] == token
    assert _works(connection) == "Alpha Traders"


@pytest.mark.django_db
def test_a_network_outage_keeps_the_stored_tokens_for_the_next_try(world, sandbox_xero, settings):
    settings.XERO_REFRESH_ATTEMPTS = 2
    connection, org = _connect(world.tenant_a1, "Alpha Traders")
    transport = CountingTransport(fail_first=2)
    with pytest.raises(RetryableError):
        xero_token_refresh(connection=connection, transport=transport, sleep=lambda seconds: None)
    row, credentials = _stored(connection)
    assert row.status == Connection.Status.ACTIVE
    assert credentials["refresh_token"] == org["refresh_token"]
    # Later, the network is back: the same refresh token still works.
    xero_token_refresh(connection=connection, transport=transport, sleep=lambda seconds: None)
    assert transport.refresh_tokens_sent == [org["refresh_token"]] * 3
    assert _works(connection) == "Alpha Traders"


@pytest.mark.django_db
def test_invalid_grant_marks_needs_reauth_and_emails_the_admins_once(
    world, sandbox_xero, django_capture_on_commit_callbacks
):
    connection, org = _connect(world.tenant_a1, "Alpha Traders")
    other, _ = _connect(world.tenant_b1, "Beta Wholesale")
    # Someone revoked the app at Xero: the refresh token is dead.
    oauth.refresh_token_revoke(refresh_token=org["refresh_token"], transport=SandboxTransport())
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(oauth.XeroGrantRefusedError):
            xero_access_token(connection=connection, transport=CountingTransport())
        with pytest.raises(ProviderAuthError):
            xero_access_token(connection=connection, transport=CountingTransport())
    row, credentials = _stored(connection)
    assert row.status == Connection.Status.NEEDS_REAUTH
    assert "Connect Xero again" in row.status_reason
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["owner-a@example.com"]
    assert "Alpha Traders" in mail.outbox[0].subject
    assert org["refresh_token"] not in mail.outbox[0].body
    assert _stored(other)[0].status == Connection.Status.ACTIVE


@pytest.mark.django_db
def test_proactive_refresh_renews_only_token_sets_idle_for_a_week(world, sandbox_xero):
    week_old = str(int(time.time()) - 8 * 86400)
    yesterday = str(int(time.time()) - 86400)
    idle, idle_org = _connect(world.tenant_a1, "Alpha Traders", refreshed_at=week_old)
    recent, recent_org = _connect(world.tenant_b1, "Beta Wholesale", refreshed_at=yesterday)
    transport = CountingTransport()
    counts = xero_tokens_refresh_idle(transport=transport)
    assert counts["refreshed"] == 1 and counts["failed"] == 0
    assert transport.refresh_tokens_sent == [idle_org["refresh_token"]]
    assert _stored(idle)[1]["refresh_token"] != idle_org["refresh_token"]
    assert int(_stored(idle)[1]["refreshed_at"]) > int(time.time()) - 60
    assert _stored(recent)[1]["refresh_token"] == recent_org["refresh_token"]
    # Run again: nothing is idle any more.
    assert xero_tokens_refresh_idle(transport=transport)["refreshed"] == 0


@pytest.mark.django_db
def test_disconnect_revokes_at_xero(world, sandbox_xero):
    connection, org = _connect(world.tenant_a1, "Alpha Traders", expired=False)
    other, other_org = _connect(world.tenant_b1, "Beta Wholesale", expired=False)
    with tenant_scope(world.tenant_a1):
        assert services.connection_disconnect(connection=connection, reason="Test.") is True
    row, credentials = _stored(connection)
    assert row.status == Connection.Status.DISCONNECTED and not row.has_credentials
    # Xero no longer honours the refresh token, and the organisation is detached from the app.
    with pytest.raises(oauth.XeroGrantRefusedError):
        oauth.refresh_token_exchange(refresh_token=org["refresh_token"], transport=SandboxTransport())
    assert SandboxConnection.objects.get(id=org["connection_id"]).deleted_at is not None
    # The other tenant's Xero connection still works.
    assert SandboxConnection.objects.get(id=other_org["connection_id"]).deleted_at is None
    assert _works(other) == "Beta Wholesale"
