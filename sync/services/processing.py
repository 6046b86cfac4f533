"""Processing an inbound event: fetch the full record, normalise it, stage one job per target effect.

Fetching happens before the transaction (it calls the source's API and its rate limiter); staging and marking the
event processed happen together, so processing the same event twice stages nothing new.
"""

import logging
from typing import NamedTuple

from django.db import transaction
from django.db.models import Func, IntegerField, TextField
from django.db.models.functions import Cast, Coalesce, Length
from django.utils import timezone

from connections.canonical import from_json
from connections.models import Connection
from core.errors import ApplicationError, RetryableError
from core.fields import StoredJson, stored_json_load
from core.statistics import statistics_refresh_if_stale
from sync.models import InboundEvent, SyncJob
from sync.services.staging import jobs_stage_count

logger = logging.getLogger(__name__)
Status = InboundEvent.Status

# Partner ingest stores plural kinds (the URL's resource); canonical entities are singular.
API_KINDS = {
    "contacts": "contact",
    "orders": "order",
    "payments": "payment",
    "refunds": "refund",
    "products": "product",
}
MAX_ATTEMPTS = 8
# What processing reads of an event (sync.services.xero_events too): only these, since a deferred field read later
# would cost a query per event.
EVENT_COLUMNS = ("id", "tenant_id", "connection_id", "source", "kind", "body", "status", "attempts")
# What a chunk's event bodies may add up to as PostgreSQL stores them (pg_column_size: compressed above 2 kB, and
# free to read, where measuring their text cost as much again as reading them). A chunk is read, normalised and
# staged at once, so its count alone let what it held depend on what it held: credit memos carry their whole order
# (an order is 13 kB of text, 4 kB stored; a customer 0.7 kB, 0.9 kB stored), and a larger store, with more
# refunds, filled whole chunks of them, so the worker's peak grew with the store.
CHUNK_STORED_BYTES = 320 * 1024


class EventRow(NamedTuple):
    """What processing reads of an inbox event from a source, as a plain row: building a model instance for each of
    a chunk's events (13,000 a run) cost more than reading them. Events from Xero stay instances
    (sync.services.xero_events saves them)."""

    pk: int
    tenant_id: int
    connection_id: int
    source: str
    kind: str
    body: object  # a StoredJson (its stored text), or None
    status: str
    attempts: int
    connection: Connection


def _events_read(event_ids) -> tuple[list[EventRow], list[InboundEvent]]:
    """The chunk's events still received, with their connections (each read once for the chunk rather than
    joined onto every event): events from sources as rows, each body as its stored text (core.fields.StoredJson),
    decoded only as the event is read (_records_of): a chunk's bodies decoded at once were 4 MB of small objects, the
    largest thing processing held. Events from Xero as instances."""
    columns = [Cast("body", TextField()) if column == "body" else column for column in EVENT_COLUMNS]
    rows = list(InboundEvent.objects.filter(pk__any=event_ids, status=Status.RECEIVED).values_list(*columns))
    connections = Connection.objects.in_bulk({row[2] for row in rows})
    events, from_xero = [], []
    at = EVENT_COLUMNS.index("body")
    for row in rows:
        connection = connections[row[2]]
        body = StoredJson(row[at]) if row[at] is not None else None
        row = (*row[:at], body, *row[at + 1 :])
        if connection.provider == "xero":
            from_xero.append(_event_instance(row, connection))
        else:
            events.append(EventRow(*row, connection))
    return events, from_xero


def _event_instance(row: tuple, connection: Connection) -> InboundEvent:
    """An event read as a row of EVENT_COLUMNS as the model instance a query would have built (from_db takes the
    columns in the model's order)."""
    values = dict(zip(EVENT_COLUMNS, row, strict=True))
    values["body"] = stored_json_load(values["body"])
    names = [field.attname for field in InboundEvent._meta.concrete_fields if field.attname in values]
    event = InboundEvent.from_db(InboundEvent.objects.db, names, [values[name] for name in names])
    event.connection = connection
    return event


def _records_of(event: EventRow | InboundEvent, *, transport=None, adapters=None) -> list[tuple[str, object]]:
    """The canonical records an event stands for, as (entity, record). `adapters` caches one per connection."""
    if event.source == InboundEvent.Source.API:
        entity = API_KINDS.get(event.kind, event.kind)
        return [(entity, from_json(entity, stored_json_load(event.body)))]
    from connections.sources import source_adapter

    if adapters is None:
        with source_adapter(event.connection, transport=transport) as adapter:
            return _read(adapter, event)
    adapter = adapters.get(event.connection_id)
    if adapter is None:
        adapter = adapters[event.connection_id] = source_adapter(event.connection, transport=transport)
    return _read(adapter, event)


def _read(adapter, event: EventRow | InboundEvent) -> list[tuple[str, object]]:
    entity = adapter.webhook_entity(event.kind)
    if entity is None:
        return []  # an event about nothing we sync (a helpdesk ticket, say)
    native = stored_json_load(event.body)
    if event.source == InboundEvent.Source.WEBHOOK:
        native = adapter.fetch(entity, adapter.webhook_source_id(event.kind, native))
    return [(entity, adapter.normalize(entity, native))]


def inbound_event_process(*, event_id: int, transport=None, adapters=None) -> str:
    """Process one inbox event once; returns its final status. Safe to call again for the same event."""
    counts = inbound_events_process(event_ids=[event_id], transport=transport, adapters=adapters)
    if counts:
        return next(iter(counts))
    return InboundEvent.objects.values_list("status", flat=True).get(pk=event_id)


def inbound_events_process(*, event_ids, transport=None, adapters=None) -> dict[str, int]:
    """Process a chunk of events: read their records (outside any transaction), then stage them all and mark them
    processed in one transaction. Events already handled are left alone. Returns counts by final status."""
    events, from_xero = _events_read(event_ids)
    counts: dict[str, int] = {}
    # Changes made in Xero flow back to sources and partners (sync.services.xero_events), in batches per category.
    if from_xero:
        from sync.services.xero_events import xero_events_process

        counts = xero_events_process(events=from_xero, transport=transport)
    readable: list[tuple[EventRow, list]] = []
    for event in events:
        try:
            readable.append((event, _records_of(event, transport=transport, adapters=adapters)))
        except RetryableError as exc:
            # The source is unavailable: leave the event received for the sweeper; give up after a while.
            InboundEvent.objects.filter(pk=event.pk).update(attempts=event.attempts + 1, reason=exc.message[:500])
            status = Status.RECEIVED
            if event.attempts + 1 >= MAX_ATTEMPTS:
                status = _finish(event, Status.FAILED, f"Gave up reading the record: {exc.message}")
            counts[status] = counts.get(status, 0) + 1
        except (ApplicationError, ValueError, KeyError, TypeError) as exc:
            status = _finish(event, Status.FAILED, f"Could not read the record: {exc}")
            counts[status] = counts.get(status, 0) + 1
    by_connection: dict[int, list[tuple[EventRow, list]]] = {}
    for event, records in readable:
        by_connection.setdefault(event.connection_id, []).append((event, records))
    for group in by_connection.values():
        status = _stage_group(group)
        counts[status] = counts.get(status, 0) + len(group)
    return counts


def _stage_group(group: list[tuple[EventRow, list]]) -> str:
    connection = group[0][0].connection
    ids = [event.pk for event, _ in group]
    try:
        with transaction.atomic():
            # Lock the events; ones another worker got to first are skipped, not processed twice.
            locked = set(
                InboundEvent.objects.select_for_update(skip_locked=True)
                .filter(pk__any=ids, status=Status.RECEIVED)
                .values_list("pk", flat=True)
            )
            items = [item for event, records in group if event.pk in locked for item in records]
            jobs_stage_count(source_connection=connection, items=items)
            InboundEvent.objects.filter(pk__any=locked).update(
                status=Status.PROCESSED, processed_at=timezone.now(), reason=""
            )
    except ApplicationError as exc:
        InboundEvent.objects.filter(pk__in=ids, status=Status.RECEIVED).update(
            status=Status.FAILED, reason=exc.message[:500], processed_at=timezone.now()
        )
        logger.info("inbound events %s failed: %s", ids, exc.message)
        return Status.FAILED
    return Status.PROCESSED


def _finish(event: EventRow | InboundEvent, status: str, reason: str) -> str:
    InboundEvent.objects.filter(pk=event.pk).update(status=status, reason=reason[:500], processed_at=timezone.now())
    logger.info("inbound event %s %s: %s", event.pk, status, reason)
    return status


def inbound_events_process_pending(
    *, connection=None, limit: int = 100_000, transport=None, chunk: int = 200, chunk_bytes: int = CHUNK_STORED_BYTES
):
    """Process received events in arrival order, a chunk at a time (the sweeper, `sync_now`, benchmarks).

    The events are those received when the call starts, at most `limit` of them. A chunk is at most `chunk` events
    and, after its first, at most `chunk_bytes` of their bodies as stored. Returns counts by final status.
    """
    events = InboundEvent.objects.filter(status=Status.RECEIVED)
    if connection is not None:
        events = events.filter(connection=connection)
    # Each chunk's ids are read when it is processed, after the last id of the one before, up to the newest event
    # received at the start: a list of every waiting id, read up front, grew with the backlog.
    newest = events.order_by("-id").values_list("id", flat=True).first()
    sized = events.annotate(body_bytes=Coalesce(StoredSize("body"), 0)).order_by("id")
    counts: dict[str, int] = {}
    adapters: dict = {}
    after, left = 0, limit
    try:
        while newest is not None and left > 0:
            candidates = sized.filter(id__gt=after, id__lte=newest).values_list("id", "body_bytes")
            ids = _chunk_ids(candidates[: min(chunk, left)], chunk_bytes)
            if not ids:
                break
            after, left = ids[-1], left - len(ids)
            for status, n in inbound_events_process(event_ids=ids, transport=transport, adapters=adapters).items():
                counts[status] = counts.get(status, 0) + n
            # What was just staged in bulk, the drain reads at once (core.statistics).
            statistics_refresh_if_stale(SyncJob, InboundEvent)
    finally:
        for adapter in adapters.values():
            adapter.close()
    return counts


class StoredSize(Func):
    """The bytes a value takes as the database stores it: pg_column_size on PostgreSQL, its text's length elsewhere."""

    function = "pg_column_size"
    output_field = IntegerField()

    def as_sqlite(self, compiler, connection, **extra_context):
        return Length(*self.source_expressions).as_sql(compiler, connection, **extra_context)


def _chunk_ids(candidates, chunk_bytes: int) -> list[int]:
    """The ids of the first candidates (id, body size) whose bodies add up to at most chunk_bytes (at least one)."""
    ids, total = [], 0
    for event_id, size in candidates:
        if ids and total + size > chunk_bytes:
            break
        ids.append(event_id)
        total += size
    return ids
