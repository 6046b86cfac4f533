"""Processing an inbound event: fetch the full record, normalise it, stage one job per target effect.

Fetching happens before the transaction (it calls the source's API and its rate limiter); staging and marking the
event processed happen together, so processing the same event twice stages nothing new.
"""

import logging

from django.db import transaction
from django.utils import timezone

from connections.canonical import from_json
from core.errors import ApplicationError, RetryableError
from sync.models import InboundEvent
from sync.services.staging import jobs_stage

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


def _records_of(event: InboundEvent, *, transport=None) -> list[tuple[str, object]]:
    """The canonical records an event stands for, as (entity, record)."""
    if event.source == InboundEvent.Source.API:
        entity = API_KINDS.get(event.kind, event.kind)
        return [(entity, from_json(entity, event.body))]
    if event.connection.provider == "xero":
        # Changes made in Xero flow back to sources (payment status, contacts); staged by the reverse flows.
        return []
    from connections.sources import source_adapter

    with source_adapter(event.connection, transport=transport) as adapter:
        entity = adapter.webhook_entity(event.kind)
        if entity is None:
            return []  # an event about nothing we sync (a helpdesk ticket, say)
        native = event.body
        if event.source == InboundEvent.Source.WEBHOOK:
            native = adapter.fetch(entity, adapter.webhook_source_id(event.kind, event.body))
        return [(entity, adapter.normalize(entity, native))]


def inbound_event_process(*, event_id: int, transport=None) -> str:
    """Process one inbox event once; returns its final status. Safe to call again for the same event."""
    event = InboundEvent.objects.select_related("connection").get(pk=event_id)
    if event.status != Status.RECEIVED:
        return event.status
    try:
        records = _records_of(event, transport=transport)
    except RetryableError as exc:
        # The source is unavailable: leave the event received for the sweeper; give up after a while.
        InboundEvent.objects.filter(pk=event.pk).update(attempts=event.attempts + 1, reason=exc.message[:500])
        if event.attempts + 1 >= MAX_ATTEMPTS:
            return _finish(event, Status.FAILED, f"Gave up reading the record: {exc.message}")
        return Status.RECEIVED
    except (ApplicationError, ValueError, KeyError, TypeError) as exc:
        return _finish(event, Status.FAILED, f"Could not read the record: {exc}")
    try:
        with transaction.atomic():
            locked = InboundEvent.objects.select_for_update().get(pk=event.pk)
            if locked.status != Status.RECEIVED:
                return locked.status
            for entity, record in records:
                jobs_stage(source_connection=event.connection, entity=entity, record=record)
            locked.status = Status.PROCESSED
            locked.processed_at = timezone.now()
            locked.reason = ""
            locked.save(update_fields=["status", "processed_at", "reason"])
    except ApplicationError as exc:
        return _finish(event, Status.FAILED, exc.message)
    return Status.PROCESSED


def _finish(event: InboundEvent, status: str, reason: str) -> str:
    InboundEvent.objects.filter(pk=event.pk).update(status=status, reason=reason[:500], processed_at=timezone.now())
    logger.info("inbound event %s %s: %s", event.pk, status, reason)
    return status


def inbound_events_process_pending(*, connection=None, limit: int = 1000, transport=None) -> dict:
    """Process received events in arrival order (the sweeper, and `sync_now`). Returns counts by final status."""
    events = InboundEvent.objects.filter(status=Status.RECEIVED)
    if connection is not None:
        events = events.filter(connection=connection)
    counts: dict[str, int] = {}
    for event_id in events.order_by("id").values_list("id", flat=True)[:limit]:
        status = inbound_event_process(event_id=event_id, transport=transport)
        counts[status] = counts.get(status, 0) + 1
    return counts
