"""The failure policy, in one place, for jobs to Xero (SyncJob) and write-backs to sources and partners (WriteBack).

- Retryable (429, 5xx, timeouts, network): back off 30 s, 2 min, 10 min, 30 min, 2 h, 6 h, 12 h with full jitter,
  Retry-After first; a 429 is not counted as an attempt; after the last step the job becomes a dead letter.
- Validation (Xero's ValidationErrors, or a mapping gap found before sending): "needs attention" with a
  plain-language cause; retried by itself once the cause is fixed (needs_attention_recheck).
- Auth: the connection goes to needs_reauth and its jobs wait, untouched, until it is active again.
- Write-backs follow the same schedule and dead-letter rule (next_attempt_delay); what cannot succeed by waiting
  (an order the source no longer has, a partner URL that is not a URL) is a dead letter at once, with the reason.
"""

import random
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from core.errors import RetryableError
from sync.models import AuditEntry, SyncJob, WriteBack

BACKOFF_SECONDS = (30, 120, 600, 1800, 7200, 21600, 43200)
# Jobs of a connection that needs re-authorisation are looked at again after this long.
AUTH_WAIT = timedelta(minutes=15)

State = SyncJob.State


def retry_delay(*, attempts: int, retry_after: float | None, rng: random.Random | None = None) -> float:
    """Seconds to wait before attempt `attempts + 1`: Retry-After when given, else full jitter on the schedule."""
    scale = settings.SYNC_BACKOFF_SCALE
    if retry_after is not None:
        return float(retry_after) * scale
    step = BACKOFF_SECONDS[min(attempts, len(BACKOFF_SECONDS)) - 1]
    return (rng or random).uniform(0, step) * scale


def next_attempt_delay(*, attempts: int, retry_after: float | None) -> float | None:
    """Seconds before the next try after `attempts` counted failures, or None when the retries are used up."""
    if attempts > len(BACKOFF_SECONDS):
        return None
    return retry_delay(attempts=max(attempts, 1), retry_after=retry_after)


def _audit(job: SyncJob, outcome: str, detail: str, *, response=None) -> None:
    AuditEntry.objects.create(
        tenant_id=job.tenant_id,
        job=job,
        entity=job.entity,
        source_id=job.source_id,
        xero_id=job.xero_id,
        operation=job.operation,
        outcome=outcome,
        detail=detail[:500],
        request=job.payload,
        response=response,
    )


def job_retry_later(*, job: SyncJob, error: RetryableError) -> SyncJob:
    """Schedule another attempt, or dead-letter the job when its retries are used up. Returns the job.

    A refusal that came before any work (a 429, our own rate limiter) spends no attempt. Any other failure may have
    been applied with its answer lost (error.maybe_applied): the attempt it spends makes the next one look the
    record up in Xero before sending it again (sync.services.drain._match_lost_responses)."""
    now = timezone.now()
    if error.maybe_applied:
        job.attempts += 1
    delay = next_attempt_delay(attempts=job.attempts, retry_after=error.retry_after)
    if delay is None:
        return job_dead(job=job, detail=str(error))
    job.state = State.PENDING
    job.next_attempt_at = now + timedelta(seconds=delay)
    job.error_code = error.code
    job.cause = f"Xero was unavailable ({error.message[:200]}); retrying automatically."
    job.lease_expires_at = None
    job.save(
        update_fields=["state", "attempts", "next_attempt_at", "error_code", "cause", "lease_expires_at", "payload"]
    )
    _audit(job, AuditEntry.Outcome.RETRY, f"retry in {int(delay)} s: {error.message}")
    return job


def job_dead(*, job: SyncJob, detail: str) -> SyncJob:
    """Give up on a job: it becomes a dead letter an operator can replay or discard."""
    job.state = State.DEAD
    job.finished_at = timezone.now()
    job.lease_expires_at = None
    job.cause = f"Gave up after {len(BACKOFF_SECONDS)} retries: {detail[:300]}"
    job.save(update_fields=["state", "attempts", "finished_at", "lease_expires_at", "cause", "payload"])
    _audit(job, AuditEntry.Outcome.DEAD, job.cause)
    return job


def job_needs_attention(*, job: SyncJob, code: str, cause: str, response=None) -> SyncJob:
    """Hold a job for a person, with the cause in plain language; it is retried once the cause is fixed."""
    job.state = State.NEEDS_ATTENTION
    job.error_code = code[:60]
    job.cause = cause[:500]
    job.lease_expires_at = None
    if response is not None:
        job.response = response
    job.save(update_fields=["state", "error_code", "cause", "lease_expires_at", "payload", "response"])
    _audit(job, AuditEntry.Outcome.NEEDS_ATTENTION, cause, response=response)
    return job


def job_wait_for_auth(*, job: SyncJob) -> SyncJob:
    """The Xero connection needs re-authorising: leave the job pending, looked at again later; no attempt spent."""
    job.state = State.PENDING
    job.next_attempt_at = timezone.now() + AUTH_WAIT
    job.lease_expires_at = None
    job.error_code = "provider_auth_failed"
    job.cause = "Waiting for the Xero connection to be re-authorised."
    job.save(update_fields=["state", "next_attempt_at", "lease_expires_at", "error_code", "cause"])
    return job


# Write-backs --------------------------------------------------------------------------------------------------


def write_back_audit(write_back: WriteBack, outcome: str, detail: str) -> None:
    """One audit entry for a write-back (entity = its kind, operation = its event)."""
    AuditEntry.objects.create(
        tenant_id=write_back.tenant_id,
        entity=write_back.kind,
        source_id=write_back.source_id,
        operation=write_back.event,
        outcome=outcome,
        detail=detail[:500],
    )


def write_back_retry_later(*, write_back: WriteBack, code: str, message: str, retry_after: float | None = None):
    """The other system failed in a way waiting can fix: schedule the next attempt on the shared schedule, or
    dead-letter the write-back when its retries are used up. `attempts` already counts the failed attempt."""
    delay = next_attempt_delay(attempts=write_back.attempts, retry_after=retry_after)
    if delay is None:
        return write_back_dead(
            write_back=write_back, code=code, reason=f"Gave up after {len(BACKOFF_SECONDS)} retries: {message}"
        )
    write_back.state = WriteBack.State.PENDING
    write_back.next_attempt_at = timezone.now() + timedelta(seconds=delay)
    write_back.lease_expires_at = None
    write_back.error_code = code[:60]
    write_back.cause = f"{message[:300]}; retrying automatically."
    write_back.save(update_fields=["state", "next_attempt_at", "lease_expires_at", "error_code", "cause"])
    write_back_audit(write_back, AuditEntry.Outcome.RETRY, f"retry in {int(delay)} s: {message}")
    return write_back


def write_back_dead(*, write_back: WriteBack, code: str, reason: str):
    """Give up on a write-back: a dead letter with the reason, which an operator can replay or discard."""
    write_back.state = WriteBack.State.DEAD
    write_back.finished_at = timezone.now()
    write_back.lease_expires_at = None
    write_back.error_code = code[:60]
    write_back.cause = reason[:500]
    write_back.save(update_fields=["state", "finished_at", "lease_expires_at", "error_code", "cause"])
    write_back_audit(write_back, AuditEntry.Outcome.DEAD, reason)
    return write_back
