"""Processing stored Xero webhook events: each category goes to its handler, a batch at a time.

Xero's events carry only ids (resourceId, eventCategory, eventType): a handler reads the changed records from Xero
itself, many per request, and stages what is owed to sources and partners. Processing one event picks up every
other waiting event of the same connection and category (up to BATCH), so a burst of INVOICE events costs one
GET Invoices?IDs=… per 45 invoices, not one call per event.

A handler is `handler(*, xero_connection, events, transport=None) -> str`: it returns a note kept on the events
("" when there is nothing to say), raises RetryableError when Xero is unavailable (the events wait and are
tried again), or another ApplicationError when they cannot be used (the events fail with that reason). It runs
outside any transaction (it calls Xero) and must be safe to run twice for the same events.
"""

import logging

from django.utils import timezone

from core.errors import ApplicationError, RetryableError
from sync.models import InboundEvent

logger = logging.getLogger(__name__)
Status = InboundEvent.Status
BATCH = 450
MAX_ATTEMPTS = 8


def invoice_events_handle(*, xero_connection, events, transport=None) -> str:
    """INVOICE events: read the invoices in batches by id and stage their payment status write-backs."""
    from connections.providers.xero import accounting
    from connections.providers.xero.tokens import xero_client_for
    from sync.services.invoice_status import invoices_status_apply

    ids = list(dict.fromkeys(event.body["resourceId"] for event in events))
    with xero_client_for(xero_connection, transport=transport) as client:
        invoices = accounting.invoices_get(client, ids)
    staged = invoices_status_apply(invoices=invoices)
    return f"{staged} write-back(s) staged" if staged else ""


def contact_events_handle(*, xero_connection, events, transport=None) -> str:
    """CONTACT events: the changed contacts go to the sources and partners that take Xero contacts
    (sync.services.xero_contacts)."""
    from sync.services.xero_contacts import xero_contact_events_handle

    counts = xero_contact_events_handle(
        xero_connection=xero_connection, events=[event.body for event in events], transport=transport
    )
    return ", ".join(f"{name} {n}" for name, n in counts.items() if n)[:500]


XERO_EVENT_HANDLERS = {
    "INVOICE": invoice_events_handle,
    "CONTACT": contact_events_handle,
}


def xero_events_process(*, events: list[InboundEvent], transport=None) -> dict[str, int]:
    """Process received Xero events, each category of each connection as one batch. Returns counts by status."""
    counts: dict[str, int] = {}
    groups: dict[tuple[int, str], list[InboundEvent]] = {}
    for event in events:
        category = (event.body or {}).get("eventCategory", "") if isinstance(event.body, dict) else ""
        groups.setdefault((event.connection_id, category), []).append(event)
    for (_, category), group in groups.items():
        batch = _with_waiting(group, category)
        status = _process_group(category, batch, transport)
        counts[status] = counts.get(status, 0) + len(batch)
    return counts


def _with_waiting(group: list[InboundEvent], category: str) -> list[InboundEvent]:
    """The group plus other received events of the same connection and category, up to BATCH in all."""
    connection = group[0].connection
    room = BATCH - len(group)
    if room <= 0:
        return group
    more = (
        InboundEvent.objects.filter(connection=connection, status=Status.RECEIVED, source=InboundEvent.Source.WEBHOOK)
        .filter(body__eventCategory=category)
        .exclude(pk__in=[event.pk for event in group])
        .order_by("id")[:room]
    )
    extra = list(more)
    for event in extra:
        event.connection = connection
    return group + extra


def _process_group(category: str, events: list[InboundEvent], transport) -> str:
    ids = [event.pk for event in events]
    handler = XERO_EVENT_HANDLERS.get(category)
    if handler is None:
        return _finish(ids, Status.PROCESSED, f"Xero {category or 'unknown'} events are not synced back.")
    try:
        note = handler(xero_connection=events[0].connection, events=events, transport=transport)
    except RetryableError as exc:
        # Xero is unavailable: the events wait for the sweeper; after a while they fail with the reason.
        attempts = max(event.attempts for event in events) + 1
        if attempts >= MAX_ATTEMPTS:
            return _finish(ids, Status.FAILED, f"Gave up reading from Xero: {exc.message}")
        InboundEvent.objects.filter(pk__in=ids, status=Status.RECEIVED).update(
            attempts=attempts, reason=exc.message[:500]
        )
        return Status.RECEIVED
    except ApplicationError as exc:
        return _finish(ids, Status.FAILED, f"Could not use the Xero events: {exc.message}")
    return _finish(ids, Status.PROCESSED, note)


def _finish(ids: list[int], status: str, reason: str) -> str:
    InboundEvent.objects.filter(pk__in=ids, status=Status.RECEIVED).update(
        status=status, reason=reason[:500], processed_at=timezone.now()
    )
    if status != Status.PROCESSED:
        logger.info("xero events %s %s: %s", ids[:10], status, reason)
    return status
