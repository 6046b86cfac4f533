"""What operators do with jobs that did not go through: look, replay, discard. Every action is audited."""

from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from core.errors import ApplicationError
from sync.models import AuditEntry, SyncJob

State = SyncJob.State
REPLAYABLE = (State.DEAD, State.NEEDS_ATTENTION, State.DISCARDED)


def _audit(job: SyncJob, outcome: str, detail: str) -> None:
    AuditEntry.objects.create(
        tenant_id=job.tenant_id,
        job=job,
        entity=job.entity,
        source_id=job.source_id,
        xero_id=job.xero_id,
        operation=job.operation,
        outcome=outcome,
        detail=detail[:500],
    )


def _select(*, job_ids=None, cause: str | None = None, states=REPLAYABLE):
    if not job_ids and not cause:
        raise ApplicationError("Name the jobs (ids) or a cause.", code="invalid")
    jobs = SyncJob.objects.filter(state__in=states)
    if job_ids:
        jobs = jobs.filter(pk__in=job_ids)
    if cause:
        jobs = jobs.filter(cause=cause)
    return jobs


@transaction.atomic
def jobs_replay(*, actor: str, job_ids=None, cause: str | None = None, states=REPLAYABLE) -> int:
    """Send jobs again from scratch (dead letters, needs attention, discarded). Returns how many. Needs a scope.

    Reconciliation's resync also passes DONE, to send again a record Xero has lost or changed since.
    """
    now = timezone.now()
    count = 0
    for job in _select(job_ids=job_ids, cause=cause, states=states).select_for_update():
        previous = job.get_state_display()
        # Attempts are kept non-zero when a write may have reached Xero, so the replay looks it up first.
        job.state = State.PENDING
        job.next_attempt_at = now
        job.cause = ""
        job.error_code = ""
        job.finished_at = None
        job.discard_reason = ""
        job.save(update_fields=["state", "next_attempt_at", "cause", "error_code", "finished_at", "discard_reason"])
        _audit(job, AuditEntry.Outcome.REPLAYED, f"replayed by {actor} (was {previous})")
        count += 1
    return count


@transaction.atomic
def jobs_discard(*, actor: str, reason: str, job_ids=None, cause: str | None = None) -> int:
    """Give up on jobs on purpose, with a reason. Returns how many."""
    if not reason.strip():
        raise ApplicationError("Say why these jobs are discarded.", code="invalid", extra={"fields": {"reason": []}})
    count = 0
    states = (State.DEAD, State.NEEDS_ATTENTION, State.PENDING)
    for job in _select(job_ids=job_ids, cause=cause, states=states).select_for_update():
        job.state = State.DISCARDED
        job.discard_reason = reason[:500]
        job.finished_at = timezone.now()
        job.save(update_fields=["state", "discard_reason", "finished_at"])
        _audit(job, AuditEntry.Outcome.DISCARDED, f"discarded by {actor}: {reason}")
        count += 1
    return count


def needs_attention_groups():
    """Jobs needing attention, grouped by cause with counts, largest first. Needs a tenant scope."""
    return (
        SyncJob.objects.filter(state=State.NEEDS_ATTENTION)
        .values("cause", "error_code")
        .annotate(count=Count("id"))
        .order_by("-count", "cause")
    )


def needs_attention_recheck(*, xero_connection) -> int:
    """Put back to pending every job held for a mapping gap that no longer exists. Returns how many."""
    from sync.services.drain import _xref_map
    from sync.services.payloads import build_payloads

    held = list(
        SyncJob.objects.filter(xero_connection=xero_connection, state=State.NEEDS_ATTENTION)
        .exclude(error_code="xero_validation")
        .select_related("source_connection")[:1000]
    )
    released = 0
    for job in held:
        own = _xref_map([job], job.entity, [job.source_id])
        (result,) = build_payloads([job], own_xrefs=own, xero_connection=xero_connection)
        if not result.problems:
            SyncJob.objects.filter(pk=job.pk, state=State.NEEDS_ATTENTION).update(
                state=State.PENDING, next_attempt_at=timezone.now(), cause="", error_code=""
            )
            released += 1
    return released
