"""Write-backs: effects owed to source and partner systems because something changed in Xero.

Staging stores one durable row per effect, deduplicated by its key, and asks a worker to send it after commit;
callers never wait on the other system. `write_backs_run` sends the due write-backs of one target connection one at
a time, outside any transaction, logs every attempt (status code, latency, an excerpt of the answer) and applies
the shared failure policy (sync.services.failures): retry with backoff, then a dead letter an operator can replay.
"""

import json
import logging
import time
from dataclasses import dataclass, replace
from datetime import timedelta

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from connections.models import Connection
from core.errors import ApplicationError
from sync.models import AuditEntry, WriteBack, WriteBackAttempt
from sync.services import failures

logger = logging.getLogger(__name__)
State = WriteBack.State
REPLAYABLE = (State.DEAD, State.DISCARDED)
# A worker that died mid-send leaves its write-back running; after this long another may take it.
LEASE = timedelta(minutes=5)


@dataclass(frozen=True)
class AttemptResult:
    """What one attempt came to. `retryable` says whether waiting can help when it did not succeed."""

    ok: bool
    status_code: int | None = None
    latency_ms: int = 0
    excerpt: str = ""
    error: str = ""
    code: str = ""
    retryable: bool = True
    retry_after: float | None = None


def _jsonable(data: dict) -> dict:
    # Money as decimal strings and times as ISO 8601: what is stored is exactly what is sent.
    return json.loads(json.dumps(data, cls=DjangoJSONEncoder))


def write_back_stage(
    *, connection: Connection, kind: str, event: str, key: str, source_id: str, data: dict
) -> tuple[WriteBack, bool]:
    """Owe one effect to `connection`, once per key; returns (write_back, created). Sent after commit."""
    key = key[:128]
    try:
        with transaction.atomic():
            write_back = WriteBack.objects.create(
                tenant_id=connection.tenant_id,
                connection=connection,
                kind=kind,
                event=event,
                key=key,
                source_id=source_id[:128],
                data=_jsonable(data),
                next_attempt_at=timezone.now(),
            )
    except IntegrityError:
        return WriteBack.objects.get(connection=connection, key=key), False
    write_backs_enqueue(connection=connection)
    return write_back, True


def write_backs_enqueue(*, connection: Connection) -> None:
    """Ask a worker to send the connection's due write-backs: one run per transaction, however many it staged.

    A run sends every due write-back of the connection, so a second request in the same transaction adds nothing.
    The request is remembered as an on-commit callback: a rollback forgets it together with the write-backs.
    """
    from django_q.tasks import async_task

    marker = ("write-backs", connection.pk)
    db = transaction.get_connection()
    if db.in_atomic_block:
        open_savepoints = set(db.savepoint_ids)
        for savepoints, callback, _robust in db.run_on_commit:
            # Only a request that no savepoint rollback can undo without undoing this one as well.
            if getattr(callback, "write_backs_for", None) == marker and savepoints <= open_savepoints:
                return

    def enqueue():
        async_task(
            "sync.tasks.write_backs_run_task",
            connection.pk,
            connection.tenant_id,
            cluster="sync",
            task_name=f"write-backs-{connection.pk}",
        )

    if settings.Q_BROKER == "orm":
        enqueue()  # the queue row commits (or rolls back) with the write-backs themselves

        def after():
            pass  # nothing left to do at commit; the callback only marks the request as made
    else:
        after = enqueue
    after.write_backs_for = marker
    transaction.on_commit(after)


def _claim(connection: Connection, *, tried: set[int]) -> WriteBack | None:
    """Take the next due write-back of the connection (or one whose worker died), marking it running. One run
    tries each write-back once: a retry whose jittered delay is tiny waits for the next run."""
    now = timezone.now()
    with transaction.atomic():
        write_back = (
            WriteBack.objects.select_for_update(skip_locked=True)
            .filter(connection=connection)
            .exclude(pk__in=tried)
            .filter(Q(state=State.PENDING, next_attempt_at__lte=now) | Q(state=State.RUNNING, lease_expires_at__lt=now))
            .order_by("next_attempt_at", "id")
            .first()
        )
        if write_back is None:
            return None
        write_back.state = State.RUNNING
        write_back.lease_expires_at = now + LEASE
        write_back.attempts += 1
        write_back.save(update_fields=["state", "lease_expires_at", "attempts"])
    return write_back


def _sender(kind: str):
    """The function that performs one attempt of a write-back of this kind."""
    if kind == WriteBack.Kind.PARTNER_WEBHOOK:
        from sync.services.partner_webhooks import partner_webhook_deliver

        return partner_webhook_deliver
    if kind == WriteBack.Kind.STOCK_LEVEL:
        from sync.services.xero_stock import stock_level_write

        return stock_level_write
    if kind == WriteBack.Kind.ORDER_STATUS:
        from sync.services.invoice_status import order_status_write

        return order_status_write
    raise ApplicationError(f"No sender for write-backs of kind '{kind}'.", code="not_supported")


def write_backs_run(*, connection: Connection, transport=None, limit: int = 500) -> dict[str, int]:
    """Send the due write-backs of one target connection, oldest first; returns counts by resulting state.

    Call inside the connection's tenant scope. `transport` goes to the httpx client (the sandbox's in tests).
    """
    counts: dict[str, int] = {}
    context: dict = {}  # senders keep what they reuse across write-backs here (an adapter, an endpoint)
    tried: set[int] = set()
    try:
        for _ in range(limit):
            write_back = _claim(connection, tried=tried)
            if write_back is None:
                break
            tried.add(write_back.pk)
            started = time.monotonic()
            try:
                send = _sender(write_back.kind)
                result = send(write_back, transport=transport, context=context)
            except ApplicationError as exc:
                result = AttemptResult(ok=False, error=exc.message, code=exc.code, retryable=False)
            if not result.latency_ms:
                result = _with_latency(result, started)
            state = _record(write_back, result)
            counts[state] = counts.get(state, 0) + 1
    finally:
        for value in context.values():
            close = getattr(value, "close", None)
            if close is not None:
                close()
    return counts


def _with_latency(result: AttemptResult, started: float) -> AttemptResult:
    return replace(result, latency_ms=int((time.monotonic() - started) * 1000))


def _record(write_back: WriteBack, result: AttemptResult) -> str:
    """Log the attempt and move the write-back on: done, retry later, or dead letter."""
    WriteBackAttempt.objects.create(
        tenant_id=write_back.tenant_id,
        write_back=write_back,
        # Numbered across replays too (a replay restarts the retry schedule, not the log).
        number=WriteBackAttempt.objects.filter(write_back=write_back).count() + 1,
        ok=result.ok,
        status_code=result.status_code,
        latency_ms=result.latency_ms,
        response_excerpt=result.excerpt[:500],
        error=result.error[:500],
    )
    if result.ok:
        write_back.state = State.DONE
        write_back.finished_at = timezone.now()
        write_back.lease_expires_at = None
        write_back.error_code = ""
        write_back.cause = ""
        write_back.save(update_fields=["state", "finished_at", "lease_expires_at", "error_code", "cause"])
        failures.write_back_audit(write_back, AuditEntry.Outcome.UPDATED, f"written to {write_back.connection}")
        return State.DONE
    message = result.error or f"answered {result.status_code}"
    if result.retryable:
        failures.write_back_retry_later(
            write_back=write_back, code=result.code or "unavailable", message=message, retry_after=result.retry_after
        )
    else:
        failures.write_back_dead(write_back=write_back, code=result.code or "rejected", reason=message)
    return write_back.state


# Operators ----------------------------------------------------------------------------------------------------


@transaction.atomic
def write_backs_replay(*, actor: str, ids) -> int:
    """Send write-backs again from scratch (dead letters, discarded ones, or delivered ones on purpose). Returns
    how many; each gets a new attempt in the log. Needs a tenant scope."""
    now = timezone.now()
    count = 0
    connections = set()
    for write_back in WriteBack.objects.filter(pk__in=ids).exclude(state=State.RUNNING).select_for_update():
        previous = write_back.get_state_display()
        WriteBack.objects.filter(pk=write_back.pk).update(
            state=State.PENDING, next_attempt_at=now, finished_at=None, cause="", error_code="", attempts=0
        )
        failures.write_back_audit(write_back, AuditEntry.Outcome.REPLAYED, f"replayed by {actor} (was {previous})")
        connections.add(write_back.connection)
        count += 1
    for connection in connections:
        write_backs_enqueue(connection=connection)
    return count


@transaction.atomic
def write_backs_discard(*, actor: str, ids, reason: str) -> int:
    """Give up on pending or dead write-backs on purpose, with a reason. Returns how many."""
    if not reason.strip():
        raise ApplicationError("Say why these write-backs are discarded.", code="invalid")
    count = 0
    for write_back in WriteBack.objects.filter(pk__in=ids, state__in=(State.PENDING, State.DEAD)).select_for_update():
        WriteBack.objects.filter(pk=write_back.pk).update(
            state=State.DISCARDED, finished_at=timezone.now(), cause=f"Discarded: {reason}"[:500]
        )
        failures.write_back_audit(write_back, AuditEntry.Outcome.DISCARDED, f"discarded by {actor}: {reason}")
        count += 1
    return count
