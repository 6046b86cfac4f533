"""The sweeper: resumes work a killed worker left behind. Runs across tenants, on a schedule."""

from datetime import timedelta

from django.utils import timezone

from sync.models import InboundEvent, QueuedInboxRun, SyncJob
from sync.services.inbox import connection_backlog_enqueue, inbound_event_enqueue
from tenants.scoping import all_tenants

STUCK_EVENT_AFTER = timedelta(minutes=5)


def sweep() -> dict:
    """Jobs left running past their lease go back to pending (with an attempt spent, so the next one looks them up
    in Xero first); events left received, and inbox runs queued long ago but never started, are enqueued again."""
    now = timezone.now()
    # System work across tenants: it only moves rows back into states their own tenant's workers pick up.
    with all_tenants():
        stale_jobs = SyncJob.objects.filter(state=SyncJob.State.RUNNING, lease_expires_at__lt=now)
        reclaimed = 0
        for job in stale_jobs.only("id", "attempts"):
            SyncJob.objects.filter(pk=job.pk, state=SyncJob.State.RUNNING).update(
                state=SyncJob.State.PENDING, attempts=job.attempts + 1, next_attempt_at=now, lease_expires_at=None
            )
            reclaimed += 1
        stuck = list(
            InboundEvent.objects.filter(
                status=InboundEvent.Status.RECEIVED, created_at__lt=now - STUCK_EVENT_AFTER
            ).values_list("id", "tenant_id")[:5000]
        )
        # A queued inbox run that never started (its task lost) would keep new deliveries from queueing another.
        stale_runs = list(
            QueuedInboxRun.objects.filter(created_at__lt=now - STUCK_EVENT_AFTER).select_related("connection")
        )
    for event_id, tenant_id in stuck:
        inbound_event_enqueue(event_id=event_id, tenant_id=tenant_id)
    for run in stale_runs:
        connection_backlog_enqueue(connection=run.connection)
    return {"jobs_reclaimed": reclaimed, "events_requeued": len(stuck), "inbox_runs_requeued": len(stale_runs)}
