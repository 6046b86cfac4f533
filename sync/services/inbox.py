"""The inbox: every verified delivery, pushed record or polled change is stored here before anything else.

This is the webhook hot path (Xero wants an answer within 5 s, we aim for milliseconds): one INSERT … ON CONFLICT
for the event, a check that a run over the connection's inbox is queued (one task per burst, not per delivery;
with the ORM broker enqueued in the same transaction), in one statement that the deliveries a web process receives
at the same moment share (inbound_events_deliver, group commit); the delivery is counted in memory, written about
once a second (DeliveryTally).
"""

import asyncio
import json
import logging
import threading
import time

import psycopg
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, DataError, close_old_connections, connections, transaction
from django.db import connection as db
from django.utils import timezone

from connections.models import Connection
from core.prepared import prepared_fetchall, prepared_fetchone
from sync.models import InboundEvent, QueuedInboxRun, WebhookStats
from sync.services.group_commit import AsyncGroupCommit, GroupCommit

logger = logging.getLogger(__name__)

_INSERT_EVENT = f"""
    INSERT INTO {InboundEvent._meta.db_table}
        (tenant_id, connection_id, source, kind, dedupe_key, body, status, reason, attempts, created_at, updated_at)
    VALUES (%s, %s, %s, %s, %s, {{body}}, %s, %s, 0, %s, %s)
    ON CONFLICT (tenant_id, connection_id, dedupe_key) DO NOTHING
    RETURNING id
"""
# A page of events of one connection and kind: what they share is sent once, each event only its key and body. With
# every column of every row a parameter, binding them (on the client: Django's psycopg cursor) cost the poll more
# than the database's work. `WHERE true`: SQLite reads an INSERT … SELECT's ON CONFLICT as a join's ON without it.
_INSERT_PAGE = f"""
    INSERT INTO {InboundEvent._meta.db_table}
        (tenant_id, connection_id, source, kind, dedupe_key, body, status, reason, attempts, created_at, updated_at)
    SELECT %s, %s, %s, %s, page.column1, {{body}}, %s, '', 0, %s, %s
    FROM (VALUES {{values}}) AS page
    WHERE true
    ON CONFLICT (tenant_id, connection_id, dedupe_key) DO NOTHING
    RETURNING id
"""


def inbound_event_receive(
    *, connection: Connection, source: str, kind: str, dedupe_key: str, body
) -> tuple[InboundEvent, bool]:
    """Store one inbound event; a redelivery (same dedupe key) is a no-op.

    Returns (event, created). The caller then calls inbox_run_request once, in the same transaction, so the new
    events get processed; it answers at once, processing is asynchronous. Polling stores a page at a time with
    inbound_events_receive_many instead.
    """
    key = dedupe_key[:128]
    now = timezone.now()
    status = InboundEvent.Status.RECEIVED
    # No savepoint: ON CONFLICT means the INSERT cannot fail on a redelivery, and inside a webhook's transaction a
    # savepoint would only add two round trips.
    with transaction.atomic(savepoint=False), db.cursor() as cursor:
        # Through jsonb into the json column: the text stored, and a NUL character's refusal, are as before the
        # column was json (one event at a time is the partner API's path, not a poll's pages).
        cursor.execute(
            _INSERT_EVENT.format(body="%s::jsonb" if db.vendor == "postgresql" else "%s"),
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
    return event, True


def inbound_events_receive_many(
    *, connection: Connection, source: str, kind: str, events: list[tuple[str, str]]
) -> int:
    """Store many inbound events (dedupe key, body as JSON text) in one statement; redeliveries are no-ops. Returns
    how many were new. Nothing is enqueued: the caller calls connection_backlog_enqueue once (polling does, per page).

    The bodies come as text because the poll has already encoded each record once, to hash it for its dedupe key:
    encoding it again here was a fifth of the poll's CPU."""
    if not events:
        return 0
    now = timezone.now()
    shared = [connection.tenant_id, connection.pk, source, kind, InboundEvent.Status.RECEIVED, now, now]
    params = [value for key, text in events for value in (key[:128], text)]
    # VALUES' columns are text: PostgreSQL needs the body cast to the column's type (json), SQLite stores JSON as
    # text. A NUL character (\u0000), which json takes and jsonb refuses, would be read back into a job's record
    # (jsonb) and refused there, event after event: a page holding one goes through jsonb and is refused here, as
    # before the body was json.
    body = "page.column2"
    if db.vendor == "postgresql":
        body = "page.column2::jsonb::json" if any("\\u0000" in text for _, text in events) else "page.column2::json"
    statement = _INSERT_PAGE.format(body=body, values=", ".join(["(%s, %s)"] * len(events)))
    with db.cursor() as cursor:
        cursor.execute(statement, shared + params)
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


# First key of pg_advisory_xact_lock(int, int) for a connection's inbox run (connections.ratelimit has its own).
INBOX_LOCK_NAMESPACE = 0x4C42_4942  # "LBIB"
_QUEUE_RUN = f"""
    INSERT INTO {QueuedInboxRun._meta.db_table} (tenant_id, connection_id, created_at, updated_at)
    VALUES (%s, %s, %s, %s)
    ON CONFLICT (connection_id) DO NOTHING
    RETURNING id
"""


def _inbox_lock(*, connection: Connection, shared: bool) -> None:
    if db.vendor != "postgresql":
        return  # SQLite: a write transaction already holds the whole database
    function = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
    with db.cursor() as cursor:
        cursor.execute(f"SELECT {function}(%s, %s)", [INBOX_LOCK_NAMESPACE, connection.pk % 2_147_483_647])


def inbox_run_request(*, connection: Connection) -> bool:
    """Make sure a run over the connection's waiting events is queued; True when this call queued it.

    Call it in the transaction that stored the events. The first delivery queues a run (a QueuedInboxRun row and
    one task); later ones, while that run has not started, find the row and queue nothing, so a burst of
    deliveries costs one task, not one each. Nothing is missed: this transaction holds the connection's inbox lock
    shared until it commits, and a run takes it exclusively to delete the row before it looks for events
    (inbox_run_start). Either the run sees this transaction's events, or this transaction finds no row and
    queues the next run.
    """
    now = timezone.now()
    with transaction.atomic(savepoint=False):
        _inbox_lock(connection=connection, shared=True)
        with db.cursor() as cursor:
            cursor.execute(_QUEUE_RUN, [connection.tenant_id, connection.pk, now, now])
            queued = cursor.fetchone() is not None
        if queued:
            connection_backlog_enqueue(connection=connection)
    return queued


def inbox_run_start(*, connection: Connection) -> None:
    """A run begins: delete the connection's queued-run row, once every transaction that saw it has committed.

    From then on a new delivery queues the next run, and the events of those that found the row are visible to
    the run that is starting.
    """
    with transaction.atomic():
        _inbox_lock(connection=connection, shared=False)
        QueuedInboxRun.objects.filter(connection=connection).delete()


class ConnectionChanged(Exception):
    """The connection a delivery was checked against is no longer as it was read: disconnected, given a new token,
    organisation or webhook secret. Nothing was stored; the caller reads the connection again."""


# One statement stores a group of deliveries (see inbound_events_deliver), each for its own connection. The group is
# one JSON parameter, an array with one element per delivery: [connection id, webhook token, organisation, webhook
# secret ciphertext, source, [[kind, dedupe key, body], ...]]. A parameter per value made psycopg parse the
# statement's text anew for every group (it caches that only below 50 parameters), which cost more than the rest of
# the group's work in the web process; and one text for every group size is one prepared statement per connection.
# Constants are written into the text rather than sent.
_DELIVER = f"""
    WITH clock AS (
        SELECT %s::timestamptz AS now
    ), delivery AS (
        SELECT ord, (value->>0)::bigint AS connection_id, value->>1 AS webhook_token,
            value->>2 AS external_account_id, value->>3 AS webhook_secret_ciphertext, value->>4 AS source,
            value->5 AS events
        FROM jsonb_array_elements(%s::jsonb) WITH ORDINALITY AS delivery (value, ord)
    ), live AS (
        SELECT delivery.ord, delivery.source, delivery.events, connection.id, connection.tenant_id
        FROM delivery JOIN {Connection._meta.db_table} AS connection
            ON connection.id = delivery.connection_id AND connection.webhook_token = delivery.webhook_token
            AND connection.status <> '{Connection.Status.DISCONNECTED}'
            AND connection.external_account_id = delivery.external_account_id
            AND connection.webhook_secret_ciphertext = delivery.webhook_secret_ciphertext
    ), inbox_lock AS (
        -- In the order of the connections' ids, so two groups never wait for each other's locks.
        SELECT id, tenant_id, pg_advisory_xact_lock_shared({INBOX_LOCK_NAMESPACE}, (id %% 2147483647)::integer)
        FROM (SELECT DISTINCT id, tenant_id FROM live ORDER BY id) AS connection
    ), stored AS (
        INSERT INTO {InboundEvent._meta.db_table}
            (tenant_id, connection_id, source, kind, dedupe_key, body, status, reason, attempts, created_at,
             updated_at)
        SELECT live.tenant_id, live.id, live.source, event.value->>0, event.value->>1, event.value->2,
            '{InboundEvent.Status.RECEIVED}', '', 0, clock.now, clock.now
        FROM live CROSS JOIN LATERAL jsonb_array_elements(live.events) AS event (value), clock
        -- Keys in one order in every statement: two groups inserting the same keys wait for each other, never
        -- each for the other (a deadlock).
        ORDER BY live.id, event.value->>1
        ON CONFLICT (tenant_id, connection_id, dedupe_key) DO NOTHING
        RETURNING connection_id, dedupe_key
    ), queued AS (
        INSERT INTO {QueuedInboxRun._meta.db_table} (tenant_id, connection_id, created_at, updated_at)
        SELECT inbox_lock.tenant_id, inbox_lock.id, clock.now, clock.now FROM inbox_lock, clock
        WHERE EXISTS (SELECT FROM stored WHERE stored.connection_id = inbox_lock.id)
        ON CONFLICT (connection_id) DO NOTHING
        RETURNING connection_id
    )
    SELECT 'live', ord, '' FROM live
    UNION ALL SELECT 'stored', connection_id, dedupe_key FROM stored
    UNION ALL SELECT 'queued', connection_id, '' FROM queued
"""  # noqa: S608 - our own table names and constants; every value is a parameter


class _Delivery:
    """One delivery, made ready by its own request thread before it joins a group: its element of the group's JSON
    array, and its dedupe keys."""

    __slots__ = ("connection_id", "element", "keys")

    def __init__(self, *, connection: Connection, source: str, events: list[tuple[str, str, object]]):
        self.connection_id = connection.pk
        self.keys = [key[:128] for _, key, _ in events]
        # What the statement checks the connection row against, the source, and the events.
        self.element = json.dumps(
            [
                connection.pk,
                connection.webhook_token,
                connection.external_account_id,
                connection.webhook_secret_ciphertext,
                source,
                [[kind, key, body] for (kind, _, body), key in zip(events, self.keys, strict=True)],
            ]
        )


def _deliveries_store(deliveries: list[_Delivery]) -> list[tuple[bool, int, bool]]:
    """Store a group of deliveries in one statement, which commits on its own; per delivery (in order): whether its
    connection was still as read, how many of its events were new, and whether it queued its connection's run."""
    # Prepared: planning this statement costs the database more than running it.
    return _deliveries_outcomes(deliveries, prepared_fetchall(_DELIVER, _deliver_params(deliveries)))


def _deliver_params(deliveries: list[_Delivery]) -> list:
    return [timezone.now(), "[" + ",".join(delivery.element for delivery in deliveries) + "]"]


def _deliveries_outcomes(deliveries: list[_Delivery], rows: list[tuple]) -> list[tuple[bool, int, bool]]:
    """What _DELIVER's rows say of each delivery of the group (see _deliveries_store)."""
    live = {ord - 1 for what, ord, _ in rows if what == "live"}  # WITH ORDINALITY counts from 1
    # A key sent twice in one group is stored once: the first delivery that sent it stored it, the others are
    # redeliveries, as they would be one after the other.
    first: dict[tuple[int, str], int] = {}
    for ord, delivery in enumerate(deliveries):
        if ord in live:
            for key in delivery.keys:
                first.setdefault((delivery.connection_id, key), ord)
    stored = [0] * len(deliveries)
    queued = set()
    for what, connection_id, key in rows:
        if what == "stored":
            stored[first[connection_id, key]] += 1
        elif what == "queued":
            queued.add(connection_id)
    outcomes = []
    for ord, delivery in enumerate(deliveries):
        # The run is enqueued once, by the first of the connection's deliveries that stored something.
        queues = ord in live and stored[ord] > 0 and delivery.connection_id in queued
        if queues:
            queued.discard(delivery.connection_id)
        outcomes.append((ord in live, stored[ord], queues))
    return outcomes


# A group of at most 64 deliveries and 4,000 events (a delivery has at most 1,000): bounded work for its leader.
delivery_groups = GroupCommit(
    _deliveries_store,
    max_items=64,
    max_weight=4_000,
    weight=lambda delivery: len(delivery.keys),
    alone_on=(DataError,),
)


def inbound_events_deliver(*, connection: Connection, source: str, events: list[tuple[str, str, object]]) -> int:
    """Store a webhook delivery's events (kind, dedupe key, body) for `connection` and make sure a run over its
    inbox is queued, in one statement (PostgreSQL only). Returns how many events were new; redeliveries are no-ops.

    The webhook hot path. Outside a transaction, the delivery joins the deliveries other threads of the process are
    storing at the same moment (delivery_groups, sync.services.group_commit): one statement and one commit for all
    of them, durable before any of them is answered. Inside the caller's transaction it is stored alone, in it. It
    stores only while the connection row still has the token, status, organisation and secret `connection` was read
    with, else raises ConnectionChanged (the view may have it from its per-process cache). The events, the inbox lock
    and the queued-run row follow inbox_run_request's protocol: the lock is held shared from before the queued run
    is looked for until the commit. When this delivery queued the run, its task is enqueued right after, by this
    thread: if the process dies in between, the sweeper requeues the run (a queued run that never started), and the
    events are already safe.
    """
    delivery = _Delivery(connection=connection, source=source, events=events)
    if db.in_atomic_block:
        live, stored, queued = _deliveries_store([delivery])[0]
    else:
        live, stored, queued = delivery_groups.submit(delivery)
    if not live:
        raise ConnectionChanged
    if queued:
        connection_backlog_enqueue(connection=connection)
    return stored


class _LoopDatabase:
    """An event loop's own database connection (psycopg's AsyncConnection, autocommit: each statement commits on its
    own, durably), for the deliveries the web server's loop stores itself (sync.inbound.asgi).

    Opened on first use with the settings Django's own connections use, and opened again after the server hung up
    (a statement then fails: its deliveries are answered by the threaded path, which stores them again; their keys
    make that a no-op if the lost statement had committed). A new loop (each test's asyncio.run) opens its own.
    """

    def __init__(self):
        self._connection: psycopg.AsyncConnection | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def fetchall(self, sql: str, params: list) -> list[tuple]:
        """Run `sql` as a prepared statement (planning _DELIVER costs more than running it) and return its rows."""
        loop = asyncio.get_running_loop()
        connection = self._connection
        if connection is not None and (self._loop is not loop or connection.closed or connection.broken):
            self.discard()
            connection = None
        if connection is None:
            params_ = dict(connections[DEFAULT_DB_ALIAS].get_connection_params())
            for name in ("context", "cursor_factory", "prepare_threshold"):  # Django's own cursor and adapters
                params_.pop(name, None)
            params_["application_name"] = LOOP_APPLICATION_NAME  # what pg_stat_activity shows for it
            connection = await psycopg.AsyncConnection.connect(autocommit=True, **params_)
            self._connection, self._loop = connection, loop
        try:
            cursor = await connection.execute(sql, params, prepare=True)
            return await cursor.fetchall()
        except psycopg.DataError:
            raise  # a value of one delivery: the connection is fine
        except psycopg.Error:
            # A connection the server hung up on, or one whose prepared statement no longer fits the schema (a
            # migration meanwhile): the next group opens a new one.
            self.discard()
            raise

    def discard(self) -> None:
        """Close the connection at once (it may belong to a loop that no longer runs)."""
        connection, self._connection, self._loop = self._connection, None, None
        if connection is not None:
            connection.pgconn.finish()


LOOP_APPLICATION_NAME = "ledgerbridge-webhook-loop"
loop_database = _LoopDatabase()


async def _deliveries_store_on_loop(deliveries: list[_Delivery]) -> list[tuple[bool, int, bool]]:
    """_deliveries_store on the event loop's own connection."""
    return _deliveries_outcomes(deliveries, await loop_database.fetchall(_DELIVER, _deliver_params(deliveries)))


# The event loop's groups: as delivery_groups, one statement in flight per process.
delivery_groups_on_loop = AsyncGroupCommit(
    _deliveries_store_on_loop, max_items=64, max_weight=4_000, weight=lambda delivery: len(delivery.keys)
)


async def inbound_events_deliver_on_loop(
    *, connection: Connection, source: str, events: list[tuple[str, str, object]]
) -> tuple[int, bool]:
    """inbound_events_deliver for a web server's event loop: the delivery joins the deliveries the loop is storing
    at the same moment (one statement and one commit, durable before it returns), without a thread.

    Returns (how many events were new, whether this delivery queued the connection's inbox run): when it did, the
    caller enqueues the run's task (connection_backlog_enqueue, in a thread: the task queue is the ORM's). Raises
    ConnectionChanged, storing nothing, when the connection row is no longer as `connection` was read; any other
    error means nothing of the delivery may have been stored: the caller stores it again the threaded way.
    """
    live, stored, queued = await delivery_groups_on_loop.submit(
        _Delivery(connection=connection, source=source, events=events)
    )
    if not live:
        raise ConnectionChanged
    return stored, queued


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


_COUNT_ACCEPTED = """
    {async_commit}INSERT INTO {table}
        (tenant_id, connection_id, received, rejected, last_received_at, last_rejection_reason, created_at, updated_at)
    SELECT %s, %s, %s, 0, %s, '', %s, %s {source}WHERE EXISTS (SELECT 1 FROM {connections} WHERE id = %s)
    ON CONFLICT (connection_id) DO UPDATE
        SET received = {table}.received + EXCLUDED.received,
            last_received_at = {greatest}({table}.last_received_at, EXCLUDED.last_received_at),
            updated_at = EXCLUDED.updated_at
"""
_COUNT_REJECTED = """
    {async_commit}INSERT INTO {table}
        (tenant_id, connection_id, received, rejected, last_rejected_at, last_rejection_reason, created_at, updated_at)
    SELECT %s, %s, 0, 1, %s, %s, %s, %s {source}WHERE true
    ON CONFLICT (connection_id) DO UPDATE
        SET rejected = {table}.rejected + 1, last_rejected_at = EXCLUDED.last_rejected_at,
            last_rejection_reason = EXCLUDED.last_rejection_reason, updated_at = EXCLUDED.updated_at
"""
# PostgreSQL: a count commits without waiting for the disk (synchronous_commit off for the statement's own
# transaction). Counts update the connection's one row; with a flush per count under that row's lock, a flood of
# rejections would queue behind each other's disk writes. ("WHERE …" lets SQLite parse ON CONFLICT.)
_ASYNC_COMMIT = "WITH async_commit AS (SELECT set_config('synchronous_commit', 'off', true)) "


def _count_sql(template: str) -> str:
    names = {"table": WebhookStats._meta.db_table, "connections": Connection._meta.db_table}
    if db.vendor == "postgresql":
        return template.format(**names, async_commit=_ASYNC_COMMIT, source="FROM async_commit ", greatest="GREATEST")
    return template.format(**names, async_commit="", source="", greatest="MAX")


class DeliveryTally:
    """Accepted webhook deliveries counted in this process, per connection, until they are written to WebhookStats.

    A count written per delivery was a second statement, and a transaction of the database's, on every delivery
    (a fifth of the endpoint's CPU and a third of PostgreSQL's). Instead a delivery adds one here and the tally is
    written, one statement per connection, once its oldest count is `seconds` old: by the delivery that finds it due
    (after that delivery's own commit), by the web server worker's flusher thread for the tail of a burst (see
    webhook_counts_flusher_start) and as the worker exits. So what a crashed process can lose is the counts of its
    last `seconds`: they feed silence detection, a rhythm over hours, and the operator's figures; the deliveries
    themselves are stored and committed before their 200 as before. Rejections are written at once.
    """

    def __init__(self):
        self._lock = threading.Lock()
        # connection id -> [tenant id, deliveries, first delivery's time, last delivery's time]
        self._counts: dict[int, list] = {}
        self._due_at: float | None = None

    def add(self, *, connection: Connection, at, seconds: float) -> bool:
        """Count one delivery; True when the tally is due to be written."""
        with self._lock:
            entry = self._counts.get(connection.pk)
            if entry is None:
                self._counts[connection.pk] = [connection.tenant_id, 1, at, at]
            else:
                entry[1] += 1
                entry[3] = at
            if self._due_at is None:
                self._due_at = time.monotonic() + seconds
            return time.monotonic() >= self._due_at

    def pending(self) -> bool:
        return bool(self._counts)

    def take(self) -> dict[int, list]:
        with self._lock:
            counts, self._counts, self._due_at = self._counts, {}, None
        return counts

    def put_back(self, counts: dict[int, list]) -> None:
        """Counts a failed write took: merged back, due at once (the next delivery or tick tries again)."""
        with self._lock:
            for connection_id, (tenant_id, received, first_at, last_at) in counts.items():
                entry = self._counts.setdefault(connection_id, [tenant_id, 0, first_at, last_at])
                entry[1] += received
                entry[2], entry[3] = min(entry[2], first_at), max(entry[3], last_at)
            self._due_at = time.monotonic()

    def clear(self) -> None:
        self.take()


delivery_tally = DeliveryTally()


def webhook_counts_flush() -> int:
    """Write the process's tally of accepted deliveries to WebhookStats; returns how many deliveries it held.

    Counts for a connection deleted meanwhile are dropped. When the write fails, the counts go back to the tally and
    the error is raised.
    """
    counts = delivery_tally.take()
    if not counts:
        return 0
    written = 0
    try:
        sql = _count_sql(_COUNT_ACCEPTED)
        for connection_id, (tenant_id, received, first_at, last_at) in list(counts.items()):
            params = [tenant_id, connection_id, received, last_at, first_at, last_at, connection_id]
            if db.vendor == "postgresql":
                prepared_fetchone(sql, params)  # prepared, like inbound_events_deliver
            else:
                with db.cursor() as cursor:
                    cursor.execute(sql, params)
            written += received
            del counts[connection_id]
    except Exception:
        delivery_tally.put_back(counts)
        raise
    return written


def webhook_counts_flusher_start(*, seconds: float | None = None) -> threading.Event:
    """Write the tally every `seconds` (settings.WEBHOOK_COUNT_SECONDS) from a daemon thread, so the counts of a
    burst's last deliveries do not wait for the next burst. The web server's workers start one (config/gunicorn.py).
    Set the returned event to stop it."""
    interval = settings.WEBHOOK_COUNT_SECONDS if seconds is None else seconds
    stop = threading.Event()

    def run() -> None:
        while not stop.wait(interval):
            if not delivery_tally.pending():
                continue
            # Like a request: this thread's own database connection, renewed as CONN_MAX_AGE and errors ask.
            close_old_connections()
            try:
                webhook_counts_flush()
            except Exception:
                logger.exception("writing the webhook delivery counts failed; they are kept for the next try")
            finally:
                close_old_connections()

    threading.Thread(target=run, name="webhook-counts", daemon=True).start()
    return stop


def webhook_stats_count(*, connection: Connection, accepted: bool, reason: str = "") -> None:
    """Count a delivery for the connection: accepted ones feed silence detection, rejected ones are all we keep of a
    delivery that failed authentication.

    Call it after the delivery's own transaction, never inside it. A rejection is written at once, in one statement
    that commits on its own without a disk flush (a database crash can lose the last moment's counts, never an
    event). An accepted delivery goes to the process's tally (DeliveryTally), written at most
    settings.WEBHOOK_COUNT_SECONDS later (at once when that is 0).
    """
    now = timezone.now()
    if accepted:
        if delivery_tally.add(connection=connection, at=now, seconds=settings.WEBHOOK_COUNT_SECONDS):
            try:
                webhook_counts_flush()
            except DatabaseError:
                # The delivery is stored already: failing its answer would only bring a retry, counted twice.
                logger.exception("writing the webhook delivery counts failed; they are kept for the next try")
        return
    sql, params = _COUNT_REJECTED, [connection.tenant_id, connection.pk, now, reason[:200], now, now]
    if db.vendor == "postgresql":
        prepared_fetchone(_count_sql(sql), params)  # prepared, like inbound_events_deliver
        return
    with db.cursor() as cursor:
        cursor.execute(_count_sql(sql), params)


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
