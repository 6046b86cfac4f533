"""What people (and auto-heal) do about mismatches: accept with a note, or resync the record. Every action is
audited: a line in the tenant's activity trail per mismatch, and the sync audit trail for every job sent again.

Resync goes through the engine's own paths, never around them: the record is read from its source now and staged
like any change (sync.services.staging.jobs_stage); when that stages nothing new (the same version was sent
before), the record's last jobs are sent again with the operators' replay (sync.services.operations.jobs_replay).
"""

import logging
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from connections.sources import source_adapter
from core.errors import ApplicationError, NotFoundError, RetryableError
from reconciliation.models import Mismatch, ReconciliationRun
from sync.models import CrossReference, SyncJob
from sync.services.operations import jobs_replay
from sync.services.staging import jobs_stage
from tenants.services import activity_record

logger = logging.getLogger(__name__)

State = Mismatch.State
Kind = Mismatch.Kind
# The source adapter's name for the record behind each Xero entity.
SOURCE_ENTITY = {
    "contact": "customer",
    "invoice": "order",
    "payment": "payment",
    "credit_note": "refund",
    "item": "product",
}
# Xero cannot update a payment or credit note in place: sending one again that Xero still has makes a duplicate.
CREATE_ONLY = (SyncJob.Operation.PAYMENT_CREATE, SyncJob.Operation.CREDIT_NOTE_CREATE)
XERO_LACKS_IT = (Kind.MISSING_IN_XERO, Kind.VOIDED_IN_XERO)
ACTIONABLE = (State.OPEN, State.RESYNC_REQUESTED)
SYSTEM = "system (auto-heal)"


@dataclass
class ActionResult:
    """How many mismatches an action changed, and why the others were left as they were."""

    done: int = 0
    skipped: dict[int, str] = field(default_factory=dict)


def _selected(*, run: ReconciliationRun, ids) -> list[Mismatch]:
    if not ids:
        raise ApplicationError("Select at least one mismatch.", code="invalid", extra={"fields": {"ids": []}})
    return list(
        Mismatch.objects.filter(tenant_id=run.tenant_id, run=run, pk__in=list(ids))
        .select_related("tenant", "source_connection")
        .order_by("id")
    )


def _audit(mismatch: Mismatch, *, actor: str, action: str, before: str) -> None:
    activity_record(
        tenant=mismatch.tenant,
        actor=actor,
        action=action,
        subject=str(mismatch)[:200],
        before={"state": before},
        after={"state": mismatch.state, "note": mismatch.note, "run": mismatch.run_id},
    )


def mismatches_accept(*, run: ReconciliationRun, ids, note: str, actor: str, user=None) -> ActionResult:
    """Accept mismatches as they are, with a note saying why (who and when are kept). Needs the tenant's scope."""
    note = (note or "").strip()
    if not note:
        raise ApplicationError(
            "Say why these differences are accepted.", code="invalid", extra={"fields": {"note": []}}
        )
    result = ActionResult()
    now = timezone.now()
    with transaction.atomic():
        for mismatch in _selected(run=run, ids=ids):
            if mismatch.state not in ACTIONABLE:
                result.skipped[mismatch.pk] = f"Already {mismatch.get_state_display().lower()}."
                continue
            before = mismatch.state
            mismatch.state, mismatch.note, mismatch.acted_by, mismatch.acted_at = State.ACCEPTED, note[:500], user, now
            mismatch.save(update_fields=["state", "note", "acted_by", "acted_at", "updated_at"])
            _audit(mismatch, actor=actor, action="reconciliation.mismatch_accepted", before=before)
            result.done += 1
    return result


def mismatches_resync(
    *, run: ReconciliationRun, ids, actor: str, user=None, transport=None, state: str = State.RESYNC_REQUESTED
) -> ActionResult:
    """Send the selected mismatches' source records to Xero again. Needs the tenant's scope.

    Records only in Xero (missing in the source) have nothing to send and are skipped with the reason, as are
    payments and credit notes Xero still holds (sending them again would duplicate them).
    """
    result = ActionResult()
    adapters: dict[int, object] = {}
    try:
        for mismatch in _selected(run=run, ids=ids):
            if mismatch.state not in ACTIONABLE:
                result.skipped[mismatch.pk] = f"Already {mismatch.get_state_display().lower()}."
                continue
            try:
                reason = _resync_one(mismatch, actor=actor, adapters=adapters, transport=transport)
            except ApplicationError as exc:
                reason = exc.message
            if reason:
                result.skipped[mismatch.pk] = reason
                continue
            before = mismatch.state
            mismatch.state, mismatch.acted_by, mismatch.acted_at = state, user, timezone.now()
            if state == State.HEALED:
                mismatch.note = "Sent to Xero again automatically (auto-heal)."
            mismatch.save(update_fields=["state", "note", "acted_by", "acted_at", "updated_at"])
            action = "reconciliation.mismatch_healed" if state == State.HEALED else "reconciliation.mismatch_resynced"
            _audit(mismatch, actor=actor, action=action, before=before)
            result.done += 1
    finally:
        for adapter in adapters.values():
            adapter.close()
    return result


def _resync_one(mismatch: Mismatch, *, actor: str, adapters: dict, transport) -> str | None:
    """Re-stage one record; returns why it could not be, or None."""
    if mismatch.kind == Kind.MISSING_IN_SOURCE or not mismatch.source_id or mismatch.source_connection is None:
        return "This record is only in Xero: there is nothing in the source to send again."
    source = mismatch.source_connection
    record = None
    try:
        record = _read_source(source, mismatch, adapters=adapters, transport=transport)
    except NotFoundError:
        return "The source no longer has this record."
    except RetryableError as exc:
        return f"The source could not be read just now ({exc.message}); try again later."
    with transaction.atomic():
        if mismatch.kind == Kind.MISSING_IN_XERO:
            # The run found the Xero record we had linked gone: forget the link so the record is created anew
            # rather than sent as an update of something Xero no longer has.
            CrossReference.objects.filter(
                source_connection=source, entity=mismatch.entity, source_id=mismatch.source_id
            ).delete()
        if record is not None:
            staged = jobs_stage(source_connection=source, entity=SOURCE_ENTITY[mismatch.entity], record=record)
            if any(job.entity == mismatch.entity for job in staged):
                return None  # a newer version, or one never staged: it goes like any change
        jobs = SyncJob.objects.filter(source_connection=source, entity=mismatch.entity, source_id=mismatch.source_id)
        if jobs.filter(state__in=(SyncJob.State.PENDING, SyncJob.State.RUNNING)).exists():
            return None  # already on its way to Xero
        failed = list(
            jobs.filter(state__in=(SyncJob.State.DEAD, SyncJob.State.NEEDS_ATTENTION)).values_list("id", flat=True)
        )
        if failed:
            jobs_replay(actor=actor, job_ids=failed)
            return None
        last = jobs.filter(state=SyncJob.State.DONE).order_by("-finished_at", "-id").first()
        if last is None:
            return "No earlier job for this record, and the source could not be read again."
        if last.operation in CREATE_ONLY and mismatch.kind not in XERO_LACKS_IT:
            return "Xero still has this record; sending it again would duplicate it. Correct it in Xero or accept it."
        jobs_replay(actor=actor, job_ids=[last.pk], states=(SyncJob.State.DONE,))
    return None


def _read_source(source, mismatch: Mismatch, *, adapters: dict, transport):
    """The record as the source has it now (canonical), or None for sources we do not read (partner pushes)."""
    adapter = adapters.get(source.pk)
    if adapter is None:
        try:
            adapter = adapters[source.pk] = source_adapter(source, transport=transport)
        except ApplicationError as exc:
            if exc.code == "no_source_adapter":
                return None
            raise
    entity = SOURCE_ENTITY[mismatch.entity]
    return adapter.normalize(entity, adapter.fetch(entity, mismatch.source_id))


def mismatches_auto_heal(*, run: ReconciliationRun, transport=None) -> ActionResult:
    """The policy's auto-heal: every open "missing in Xero" mismatch of the run is resynced and marked healed."""
    ids = list(
        Mismatch.objects.filter(
            tenant_id=run.tenant_id, run=run, kind=Kind.MISSING_IN_XERO, state=State.OPEN
        ).values_list("id", flat=True)
    )
    if not ids:
        return ActionResult()
    result = mismatches_resync(run=run, ids=ids, actor=SYSTEM, transport=transport, state=State.HEALED)
    if result.skipped:
        logger.info("auto-heal of run %s left %d mismatches open", run.pk, len(result.skipped))
    return result


def _record_key(m) -> tuple:
    return (m["entity"], m["source_id"], m["xero_id"], m["kind"], m["source_value"], m["xero_value"])


KEY_FIELDS = ("entity", "source_id", "xero_id", "kind", "source_value", "xero_value")


def mismatches_carry_accepted(*, run: ReconciliationRun) -> int:
    """A difference accepted in an earlier run stays accepted: same record, same class, same values on both
    sides. When either value has changed it is a new difference and is shown again. Returns how many."""
    fresh = list(Mismatch.objects.filter(tenant_id=run.tenant_id, run=run, state=State.OPEN).values("id", *KEY_FIELDS))
    if not fresh:
        return 0
    accepted = {}
    earlier = (
        Mismatch.objects.filter(
            tenant_id=run.tenant_id,
            state=State.ACCEPTED,
            run__started_at__lt=run.started_at,
            kind__in={m["kind"] for m in fresh},
        )
        .exclude(run=run)
        .order_by("acted_at", "id")
        .values("id", "note", "acted_by_id", "acted_at", *KEY_FIELDS)
    )
    for row in earlier.iterator(chunk_size=2000):
        accepted[_record_key(row)] = row  # the latest acceptance of a record wins
    carried = 0
    with transaction.atomic():
        for m in fresh:
            previous = accepted.get(_record_key(m))
            if previous is None:
                continue
            Mismatch.objects.filter(pk=m["id"], state=State.OPEN).update(
                state=State.ACCEPTED,
                note=previous["note"],
                acted_by_id=previous["acted_by_id"],
                acted_at=previous["acted_at"],
            )
            carried += 1
    return carried
