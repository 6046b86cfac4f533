"""The inbox: every verified delivery, pushed record or polled change is stored here before anything else.

This is the webhook hot path (Xero wants an answer within 5 s, we aim for milliseconds): one INSERT … ON CONFLICT
for the event, one upsert for the counters, and with the ORM broker the task is enqueued in the same transaction.
"""

import json

from django.conf import settings
from django.db import connection as db
from django.db import transaction
from django.utils import timezone

from connections.models import Connection
from sync.models import InboundEvent, WebhookStats

_INSERT_EVENTS = f"""
    INSERT INTO {InboundEvent._meta.db_table}
        (tenant_id, connection_id, source, kind, dedupe_key, body, status, reason, attempts, created_at, updated_at)
    VALUES {{values}}
    ON CONFLICT (tenant_id, connection_id, dedupe_key) DO NOTHING
    RETURNING id
"""
_ONE_EVENT = "(%s, %s, %s, %s, %s, %s, %s, %s, 0, %s, %s)"
_INSERT_EVENT = _INSERT_EVENTS.format(values=_ONE_EVENT)


def inbound_event_receive(
    *, connection: Connection, source: str, kind: str, dedupe_key: str, body
) -> tuple[InboundEvent, bool]:
    """Store one inbound event and schedule its processing; a redelivery (same dedupe key) is a no-op.

    Returns (event, created). The caller answers at once; processing is asynchronous. Polling stores a page at a
    time with inbound_events_receive_many instead.
    """
    key = dedupe_key[:128]
    now = timezone.now()
    status = InboundEvent.Status.RECEIVED
    # No savepoint: ON CONFLICT means the INSERT cannot fail on a redelivery, and inside a webhook's transaction a
    # savepoint would only add two round trips.
    with transaction.atomic(savepoint=False), db.cursor() as cursor:
        cursor.execute(
            _INSERT_EVENT,
            [connection.tenant_id, connection.pk, source, kind, key, json.dumps(body), status, "", now, now],
        )
        row = cursor.fetchone()
        if row is None:
            return InboundEvent.objects.get(connection=connection, dedupe_key=key), False
        event = InboundEvent(
            pk=row[0],
            tenant_id=connection.tenant_id,
            connection=connection,
            source=source,
            kind=kind,
            dedupe_key=key,
            body=body,
            status=status,
            created_at=now,
            updated_at=now,
        )
        _enqueue_with(event)
    return event, True


def inbound_events_receive_many(
    *, connection: Connection, source: str, kind: str, events: list[tuple[str, object]]
) -> int:
    """Store many inbound events (dedupe key, body) in one statement; redeliveries are no-ops. Returns how many
    were new. Nothing is enqueued: the caller calls connection_backlog_enqueue once (polling does, per page)."""
    if not events:
        return 0
    now = timezone.now()
    status = InboundEvent.Status.RECEIVED
    rows = [
        (connection.tenant_id, connection.pk, source, kind, key[:128], json.dumps(body), status, "", now, now)
        for key, body in events
    ]
    values = ", ".join([_ONE_EVENT] * len(rows))
    with db.cursor() as cursor:
        cursor.execute(_INSERT_EVENTS.format(values=values), [value for row in rows for value in row])
        return len(cursor.fetchall())


def connection_backlog_enqueue(*, connection: Connection) -> None:
    """One task to process every event the connection has waiting (after polling stored a page of them)."""
    from django_q.tasks import async_task

    def enqueue():
        async_task(
            "sync.tasks.connection_backlog_process_task",
            connection.pk,
            connection.tenant_id,
            cluster="webhooks",
            task_name=f"backlog-{connection.pk}",
        )

    if settings.Q_BROKER == "orm":
        enqueue()
    else:
        transaction.on_commit(enqueue)


def _enqueue_with(event: InboundEvent) -> None:
    # The ORM broker's queue row commits (or rolls back) with the event itself; other brokers only after commit,
    # so a worker never sees an event that was rolled back.
    if settings.Q_BROKER == "orm":
        inbound_event_enqueue(event_id=event.pk, tenant_id=event.tenant_id)
    else:
        transaction.on_commit(lambda: inbound_event_enqueue(event_id=event.pk, tenant_id=event.tenant_id))


def inbound_event_reject(*, connection: Connection, source: str, kind: str, dedupe_key: str, body, reason: str):
    """Store a delivery that passed authentication but cannot be used (malformed JSON, …) as rejected, with why."""
    event, _ = InboundEvent.objects.get_or_create(
        connection=connection,
        dedupe_key=dedupe_key[:128],
        defaults={
            "tenant_id": connection.tenant_id,
            "source": source,
            "kind": kind,
            "body": body,
            "status": InboundEvent.Status.REJECTED,
            "reason": reason[:500],
        },
    )
    return event


_COUNT_ACCEPTED = f"""
    INSERT INTO {WebhookStats._meta.db_table}
        (tenant_id, connection_id, received, rejected, last_received_at, last_rejection_reason, created_at, updated_at)
    VALUES (%s, %s, 1, 0, %s, '', %s, %s)
    ON CONFLICT (connection_id) DO UPDATE
        SET received = {WebhookStats._meta.db_table}.received + 1, last_received_at = EXCLUDED.last_received_at,
            updated_at = EXCLUDED.updated_at
"""
_COUNT_REJECTED = f"""
    INSERT INTO {WebhookStats._meta.db_table}
        (tenant_id, connection_id, received, rejected, last_rejected_at, last_rejection_reason, created_at, updated_at)
    VALUES (%s, %s, 0, 1, %s, %s, %s, %s)
    ON CONFLICT (connection_id) DO UPDATE
        SET rejected = {WebhookStats._meta.db_table}.rejected + 1, last_rejected_at = EXCLUDED.last_rejected_at,
            last_rejection_reason = EXCLUDED.last_rejection_reason, updated_at = EXCLUDED.updated_at
"""


def webhook_stats_count(*, connection: Connection, accepted: bool, reason: str = "") -> None:
    """Count a delivery for the connection in one statement: accepted ones feed silence detection, rejected ones
    are all we keep of a delivery that failed authentication."""
    now = timezone.now()
    with db.cursor() as cursor:
        if accepted:
            cursor.execute(_COUNT_ACCEPTED, [connection.tenant_id, connection.pk, now, now, now])
        else:
            cursor.execute(_COUNT_REJECTED, [connection.tenant_id, connection.pk, now, reason[:200], now, now])


def inbound_event_enqueue(*, event_id: int, tenant_id: int) -> None:
    """Hand an event to the webhooks queue for processing (sync.tasks.inbound_event_process_task)."""
    from django_q.tasks import async_task

    async_task(
        "sync.tasks.inbound_event_process_task",
        event_id,
        tenant_id,
        cluster="webhooks",
        task_name=f"inbound-{event_id}",
    )
