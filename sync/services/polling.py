"""Incremental polling of source connections: the only path for Magento Open Source (no webhooks) and the safety
net under every other source's webhooks.

Per entity of the source, records updated since the cursor's watermark minus an overlap are pulled (paged by the
adapter), stored in the inbox (the dedupe key names the record, its updated_at and a hash of its content, so an
overlap re-read is a no-op and a second edit within the same second is not) and the watermark moves to the
newest updated_at stored. HTTP calls happen outside transaction.atomic() so the shared rate limiter's slots are
visible to other workers; each page is stored in its own transaction.
"""

import logging
from datetime import UTC, datetime, timedelta

from django.db import transaction
from django.db.models import F
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from connections.models import Connection
from connections.providers.base import Role
from connections.providers.registry import PROVIDERS
from core.errors import ApplicationError
from sync.inbound.deliveries import canonical_json, sha256_hex
from sync.models import InboundEvent, SourceCursor
from sync.services.inbox import inbound_events_receive_many, inbox_run_request
from tenants.scoping import all_tenants, tenant_scope

logger = logging.getLogger(__name__)

PAGE_SIZE = 100
# What the records stored in one statement may add up to, as JSON text: the statement carries each of them again, a
# few times over on its way to the database, so a page of records as large as orders with their credit memos made
# the poll's peak depend on how many of them a page happened to hold.
PAGE_BYTES = 512 * 1024
DEFAULT_OVERLAP = timedelta(minutes=5)


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if timezone.is_naive(moment) else moment.astimezone(UTC)


def poll_dedupe_key(*, entity: str, source_id: str, updated_at: datetime | None, text: str) -> str:
    """<entity>:<source id>:<updated_at>#<content hash>: one inbox row per version (`text`: the record's
    canonical_json, which the poll also counts a page's bytes by).

    The content hash is part of the key because sources date changes to the second: two edits within one second
    carry the same updated_at, and keyed by the date alone the second edit would be taken for an overlap re-read
    and dropped. Ids too long for the key are hashed so the version part is never cut off."""
    content = sha256_hex(text)[:40]
    version = f"{updated_at.isoformat()}#{content}" if updated_at else f"#{content}"
    key = f"{entity}:{source_id}:{version}"
    if len(key) > 128:
        key = f"{entity}:#{sha256_hex(source_id)[:40]}:{version}"
    return key


def _store_page(*, connection: Connection, cursor: SourceCursor, entity: str, page: list, advance_to) -> int:
    """Store one page of (dedupe key, record as JSON text) and, in the same transaction, move the watermark (never
    backwards). Returns rows created."""
    with transaction.atomic():
        created_count = inbound_events_receive_many(
            connection=connection, source=InboundEvent.Source.POLL, kind=entity, events=page
        )
        if created_count:
            # One run queued for the whole poll, as for a burst of webhook deliveries: a page finding the run
            # still queued adds nothing, where a task per page left hundreds queued for one backlog.
            inbox_run_request(connection=connection)
        if advance_to is not None:
            SourceCursor.objects.filter(pk=cursor.pk).update(
                watermark=Greatest(Coalesce(F("watermark"), advance_to), advance_to)
            )
    return created_count


def _poll_entity(*, connection, adapter, entity: str, overlap: timedelta, budget: int | None) -> dict:
    cursor, _ = SourceCursor.objects.get_or_create(
        connection=connection, entity=entity, defaults={"tenant_id": connection.tenant_id}
    )
    since = cursor.watermark - overlap if cursor.watermark else None
    seen = staged = 0
    newest: datetime | None = None
    # The watermark may move page by page only while records come oldest first; otherwise a crash half-way
    # could leave older, unseen records behind it, so it moves once the whole run is stored.
    ordered = True
    page: list = []
    page_bytes = 0
    truncated = False
    records = adapter.changed(entity, since=since)
    try:
        # Iterating pulls the next page over HTTP: this loop runs outside any transaction on purpose.
        for source_id, updated_at, native in records:
            updated_at = _aware(updated_at)
            if updated_at is not None:
                if newest is not None and updated_at < newest:
                    ordered = False
                newest = updated_at if newest is None else max(newest, updated_at)
            text = canonical_json(native)
            key = poll_dedupe_key(entity=entity, source_id=str(source_id), updated_at=updated_at, text=text)
            # The text is what is stored (the body's JSON, keys sorted: the same jsonb), so it is encoded once.
            page.append((key, text))
            page_bytes += len(text)
            seen += 1
            if len(page) >= PAGE_SIZE or page_bytes >= PAGE_BYTES:
                staged += _store_page(
                    connection=connection,
                    cursor=cursor,
                    entity=entity,
                    page=page,
                    advance_to=newest if ordered else None,
                )
                page, page_bytes = [], 0
            if budget is not None and seen >= budget:
                truncated = True
                break
    finally:
        close = getattr(records, "close", None)
        if close is not None:
            close()
    # A run cut short by the budget out of order leaves unseen older records: the watermark waits for a full run.
    advance_to = newest if ordered or not truncated else None
    staged += _store_page(connection=connection, cursor=cursor, entity=entity, page=page, advance_to=advance_to)
    SourceCursor.objects.filter(pk=cursor.pk).update(last_polled_at=timezone.now())
    cursor.refresh_from_db(fields=["watermark"])
    return {
        "seen": seen,
        "staged": staged,
        "since": since.isoformat() if since else None,
        "watermark": cursor.watermark.isoformat() if cursor.watermark else None,
    }


def source_poll(
    *,
    connection: Connection,
    transport=None,
    overlap: timedelta = DEFAULT_OVERLAP,
    max_records: int | None = None,
    adapter=None,
) -> dict:
    """Pull what changed in one source connection since its cursors and stage it in the inbox.

    Call inside the connection's tenant scope. `transport` goes to the source's client (the sandbox's in tests);
    `adapter` replaces connections.sources.source_adapter entirely (an object with `entities` and `changed`).
    `max_records` bounds each entity's run: the watermark only covers what was stored, so the next poll goes on
    from there. Returns {"connection", "entities": {entity: {"seen", "staged", "since", "watermark"}}, "seen",
    "staged"}.
    """
    owned = adapter is None
    if owned:
        from connections.sources import source_adapter

        adapter = source_adapter(connection, transport=transport)
    result = {"connection": connection.pk, "entities": {}, "seen": 0, "staged": 0}
    try:
        for entity in adapter.entities:
            outcome = _poll_entity(
                connection=connection, adapter=adapter, entity=entity, overlap=overlap, budget=max_records
            )
            result["entities"][entity] = outcome
            result["seen"] += outcome["seen"]
            result["staged"] += outcome["staged"]
    finally:
        if owned and hasattr(adapter, "close"):
            adapter.close()
    return result


def _pollable_provider_ids() -> list[str]:
    return [p.id for p in PROVIDERS if p.role == Role.SOURCE and p.has_outbound_client]


def sources_poll_due(*, transport=None, max_records: int | None = None) -> dict:
    """Poll every active source connection of every tenant, one after another (the scheduler's entry point).

    Returns {"polled", "failed", "staged", "errors": {connection id: code}} (see connections_poll_each).
    """
    return connections_poll_each(
        providers=_pollable_provider_ids(),
        poll=lambda connection: source_poll(connection=connection, transport=transport, max_records=max_records),
    )


def connections_poll_each(*, providers, poll) -> dict:
    """Run `poll(connection)` for every active connection of these providers in every tenant, each inside its
    tenant's scope, and sum what each staged.

    One connection's failure (an outage, revoked credentials) is logged and counted and does not stop the others.
    Returns {"polled", "failed", "staged", "errors": {connection id: code}}.
    """
    # all_tenants: the scheduler works for every tenant; each connection is then polled inside its own scope.
    with all_tenants():
        due = list(
            Connection.objects.filter(provider__in=providers, status=Connection.Status.ACTIVE)
            .order_by("tenant_id", "pk")
            .values_list("pk", "tenant_id")
        )
    summary = {"polled": 0, "failed": 0, "staged": 0, "errors": {}}
    for connection_id, tenant_id in due:
        with tenant_scope(tenant_id):
            connection = Connection.objects.filter(pk=connection_id, status=Connection.Status.ACTIVE).first()
            if connection is None:
                continue
            try:
                outcome = poll(connection)
            except ApplicationError as exc:
                logger.warning("polling connection %s failed: %s (%s)", connection_id, exc.message, exc.code)
                summary["failed"] += 1
                summary["errors"][connection_id] = exc.code
                continue
            except Exception:
                # A bug in one adapter must not starve every other tenant's polling; it is logged in full.
                logger.exception("polling connection %s failed unexpectedly", connection_id)
                summary["failed"] += 1
                summary["errors"][connection_id] = "unexpected"
                continue
            summary["polled"] += 1
            summary["staged"] += outcome["staged"]
    return summary
