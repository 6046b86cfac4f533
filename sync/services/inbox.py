"""The inbox: every verified delivery, pushed record or polled change is stored here before anything else."""

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from connections.models import Connection
from sync.models import InboundEvent, WebhookStats


def inbound_event_receive(
    *, connection: Connection, source: str, kind: str, dedupe_key: str, body
) -> tuple[InboundEvent, bool]:
    """Store one inbound event and schedule its processing; a redelivery (same dedupe key) is a no-op.

    Returns (event, created). Processing is enqueued on commit, so a worker never sees an event that was rolled
    back, and the caller can answer at once.
    """
    try:
        with transaction.atomic():
            event = InboundEvent.objects.create(
                tenant_id=connection.tenant_id,
                connection=connection,
                source=source,
                kind=kind,
                dedupe_key=dedupe_key[:128],
                body=body,
            )
    except IntegrityError:
        existing = InboundEvent.objects.get(connection=connection, dedupe_key=dedupe_key[:128])
        return existing, False
    transaction.on_commit(lambda: inbound_event_enqueue(event_id=event.pk, tenant_id=event.tenant_id))
    return event, True


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


def webhook_stats_count(*, connection: Connection, accepted: bool, reason: str = "") -> None:
    """Count a delivery for the connection: accepted ones feed silence detection, rejected ones are all we keep."""
    now = timezone.now()
    stats, _ = WebhookStats.objects.get_or_create(connection=connection, defaults={"tenant_id": connection.tenant_id})
    if accepted:
        WebhookStats.objects.filter(pk=stats.pk).update(received=F("received") + 1, last_received_at=now)
    else:
        WebhookStats.objects.filter(pk=stats.pk).update(
            rejected=F("rejected") + 1, last_rejected_at=now, last_rejection_reason=reason[:200]
        )


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
