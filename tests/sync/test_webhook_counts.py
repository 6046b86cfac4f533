"""Accepted webhook deliveries are counted in memory and written to WebhookStats in one statement once due; what
silence detection and operators read is the same as when each delivery wrote its own count."""

import time
from datetime import timedelta

import pytest
from django.db import DatabaseError
from django.utils import timezone

from sync.models import WebhookStats
from sync.services import inbox
from sync.services.inbox import delivery_tally, webhook_counts_flush, webhook_counts_flusher_start
from tenants.scoping import tenant_scope
from tests.factories import ConnectionFactory
from tests.sync.webhook_helpers import TEST_XERO_KEY, xero_invoice_delivery, xero_sign

ORG = "1c3b4c43-6b50-4fb4-9d8e-b3a3e1f4a0d1"


@pytest.fixture
def pair(world, settings):
    settings.XERO_WEBHOOK_KEY = TEST_XERO_KEY
    mine = ConnectionFactory(tenant=world.tenant_a1, provider="xero", external_account_id=ORG, credentials={})
    other = ConnectionFactory(tenant=world.tenant_b1, provider="xero", external_account_id=ORG + "-b", credentials={})
    return mine, other


def _post(client, connection, org=ORG):
    body = xero_invoice_delivery(org)
    response = client.post(
        f"/webhooks/xero/{connection.webhook_token}/",
        data=body,
        content_type="application/json",
        HTTP_X_XERO_SIGNATURE=xero_sign(body),
    )
    assert response.status_code == 200
    return response


def _stats(connection) -> WebhookStats | None:
    with tenant_scope(connection.tenant_id):
        return WebhookStats.objects.filter(connection=connection).first()


@pytest.mark.django_db
def test_deliveries_are_written_together_once_due(client, pair, settings):
    settings.WEBHOOK_COUNT_SECONDS = 3600
    mine, other = pair
    before = timezone.now()
    for _ in range(3):
        _post(client, mine)
    _post(client, other, ORG + "-b")
    assert _stats(mine) is None  # counted, not yet written

    assert webhook_counts_flush() == 4
    stats = _stats(mine)
    assert (stats.received, stats.rejected) == (3, 0)
    assert before <= stats.created_at <= stats.last_received_at <= timezone.now()
    assert _stats(other).received == 1
    assert webhook_counts_flush() == 0  # nothing counted twice

    _post(client, mine)
    webhook_counts_flush()
    assert _stats(mine).received == 4


@pytest.mark.django_db
def test_with_no_delay_each_delivery_is_written_at_once(client, pair, settings):
    settings.WEBHOOK_COUNT_SECONDS = 0
    mine, _ = pair
    _post(client, mine)
    assert _stats(mine).received == 1
    _post(client, mine)
    assert _stats(mine).received == 2


@pytest.mark.django_db
def test_counts_of_a_deleted_connection_are_dropped_and_the_others_written(client, pair, settings):
    settings.WEBHOOK_COUNT_SECONDS = 3600
    mine, other = pair
    _post(client, mine)
    _post(client, other, ORG + "-b")
    with tenant_scope(other.tenant_id):
        other.delete()
    assert webhook_counts_flush() == 2
    assert _stats(mine).received == 1
    assert not delivery_tally.pending()


@pytest.mark.django_db
def test_a_failed_write_keeps_the_counts_for_the_next_one(client, pair, settings, monkeypatch):
    settings.WEBHOOK_COUNT_SECONDS = 3600
    mine, _ = pair
    _post(client, mine)
    _post(client, mine)

    def broken(template):
        raise DatabaseError("the database went away")

    with monkeypatch.context() as patched:
        patched.setattr(inbox, "_count_sql", broken)
        with pytest.raises(DatabaseError):
            webhook_counts_flush()
    assert delivery_tally.pending()
    assert webhook_counts_flush() == 2
    assert _stats(mine).received == 2


@pytest.mark.django_db(transaction=True)
def test_the_flusher_writes_the_tail_of_a_burst(client, pair, settings):
    """In the web server, a worker's thread writes what the last deliveries of a burst counted."""
    settings.WEBHOOK_COUNT_SECONDS = 3600  # no delivery finds the tally due: only the thread writes it
    mine, _ = pair
    _post(client, mine)
    _post(client, mine)
    stop = webhook_counts_flusher_start(seconds=0.05)
    try:
        deadline = time.monotonic() + 30
        while (_stats(mine) is None or delivery_tally.pending()) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
    assert _stats(mine).received == 2
    assert _stats(mine).last_received_at > timezone.now() - timedelta(minutes=5)
