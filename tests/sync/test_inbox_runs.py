"""One queued run per connection's inbox, however many deliveries arrive, and never an event left behind."""

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone
from django_q.models import OrmQ

from sync.inbound.deliveries import HANDLERS
from sync.inbound.services import webhook_delivery_store
from sync.models import InboundEvent, QueuedInboxRun
from sync.services.inbox import inbox_run_start
from sync.services.sweeper import sweep
from tenants.scoping import tenant_scope
from tests.sync.webhook_helpers import xero_invoice_delivery, xero_sign

BACKLOG_TASK = "sync.tasks.connection_backlog_process_task"


def _post(client, connection):
    body = xero_invoice_delivery(connection.external_account_id)
    response = client.post(
        f"/webhooks/xero/{connection.webhook_token}/",
        data=body,
        content_type="application/json",
        HTTP_X_XERO_SIGNATURE=xero_sign(body),
    )
    assert (response.status_code, response.content) == (200, b"")


def _queued_runs() -> list[int]:
    """The connections a queued inbox-processing task is for, in queue order."""
    return [q.task["args"][0] for q in OrmQ.objects.order_by("id") if q.task["func"] == BACKLOG_TASK]


def _received(connection) -> int:
    with tenant_scope(connection.tenant_id):
        return InboundEvent.objects.filter(connection=connection, status=InboundEvent.Status.RECEIVED).count()


@pytest.mark.django_db
def test_a_burst_of_deliveries_queues_one_run_per_connection_and_a_started_run_lets_the_next_queue(client, xero_pair):
    mine, other = xero_pair
    for _ in range(3):
        _post(client, mine)
    _post(client, other)
    _post(client, other)
    assert _queued_runs() == [mine.pk, other.pk]
    assert (_received(mine), _received(other)) == (3, 2)

    # The run starts: from then on a delivery queues the next run; the other tenant's queued run is untouched.
    with tenant_scope(mine.tenant_id):
        inbox_run_start(connection=mine)
        assert not QueuedInboxRun.objects.filter(connection=mine).exists()
    _post(client, mine)
    _post(client, other)
    assert _queued_runs() == [mine.pk, other.pk, mine.pk]
    with tenant_scope(other.tenant_id):
        assert QueuedInboxRun.objects.filter(connection=other).count() == 1


@pytest.mark.django_db
def test_the_sweeper_requeues_a_run_that_never_started(client, xero_pair):
    mine, other = xero_pair
    _post(client, mine)
    _post(client, other)
    with tenant_scope(mine.tenant_id):
        # Its task was lost: the row would otherwise keep every later delivery from queueing a run.
        QueuedInboxRun.objects.filter(connection=mine).update(created_at=timezone.now() - timedelta(minutes=10))
    assert sweep()["inbox_runs_requeued"] == 1
    assert _queued_runs() == [mine.pk, other.pk, mine.pk]


@pytest.mark.needs_postgres
@pytest.mark.django_db(transaction=True)
def test_a_delivery_committing_while_a_run_starts_is_seen_by_that_run(xero_pair):
    """The race a coalesced queue invites: a delivery finds the run already queued (so queues nothing), and the run
    starts and looks for events before that delivery commits. The run's start waits for it instead."""
    mine, other = xero_pair
    with tenant_scope(mine.tenant_id):
        QueuedInboxRun.objects.create(tenant_id=mine.tenant_id, connection=mine)
    stored, release, started = threading.Event(), threading.Event(), threading.Event()
    failures = []

    def delivery():
        try:
            body = xero_invoice_delivery(mine.external_account_id)
            items = HANDLERS["xero"].parse(request=None, body=body)
            with tenant_scope(mine.tenant_id), transaction.atomic():
                webhook_delivery_store(connection=mine, items=items)
                stored.set()
                release.wait(60)
        except Exception as exc:  # reported by the main thread
            failures.append(exc)
            stored.set()
        finally:
            connection.close()

    def run_start():
        try:
            with tenant_scope(mine.tenant_id):
                inbox_run_start(connection=mine)
            started.set()
        finally:
            connection.close()

    writer = threading.Thread(target=delivery)
    writer.start()
    assert stored.wait(60) and not failures
    starter = threading.Thread(target=run_start)
    starter.start()
    # The delivery's transaction is still open: the run cannot start yet.
    assert not started.wait(1.0)
    release.set()
    writer.join(60)
    starter.join(60)
    assert started.is_set() and not failures
    # The delivery found the run queued and queued none itself; the run now starting sees its event.
    assert _queued_runs() == []
    assert _received(mine) == 1 and _received(other) == 0
    with tenant_scope(mine.tenant_id):
        assert not QueuedInboxRun.objects.filter(connection=mine).exists()
