"""django-q2 entry points: load a row by id, enter its tenant's scope, call one service.

Every task is safe to run twice: the inbox, jobs and leases in our own tables decide what actually happens.
"""

import logging

from connections.models import Connection
from tenants.models import Tenant
from tenants.scoping import all_tenants, tenant_scope

logger = logging.getLogger(__name__)


def inbound_event_process_task(event_id: int, tenant_id: int) -> None:
    from sync.services.processing import inbound_event_process

    with tenant_scope(Tenant.objects.get(pk=tenant_id)):
        inbound_event_process(event_id=event_id)


def connection_backlog_process_task(connection_id: int, tenant_id: int) -> dict:
    from sync.services.inbox import inbox_run_start
    from sync.services.processing import inbound_events_process_pending

    with tenant_scope(Tenant.objects.get(pk=tenant_id)):
        connection = Connection.objects.get(pk=connection_id)
        inbox_run_start(connection=connection)
        return inbound_events_process_pending(connection=connection)


def drain_task(xero_connection_id: int, tenant_id: int) -> dict:
    from sync.services.drain import drain_run

    with tenant_scope(Tenant.objects.get(pk=tenant_id)):
        report = drain_run(xero_connection=Connection.objects.get(pk=xero_connection_id))
    return report.__dict__


def drains_due_task() -> int:
    """Every minute: enqueue a drain for each active Xero connection with due jobs (a busy one declines)."""
    from django.utils import timezone
    from django_q.tasks import async_task

    from sync.models import SyncJob

    # The scheduler looks across tenants for due work; each drain then runs in its own tenant's scope.
    with all_tenants():
        due = (
            SyncJob.objects.filter(
                state=SyncJob.State.PENDING,
                next_attempt_at__lte=timezone.now(),
                xero_connection__status=Connection.Status.ACTIVE,
            )
            .values_list("xero_connection_id", "tenant_id")
            .distinct()
        )
        pairs = list(due)
    for connection_id, tenant_id in pairs:
        async_task(
            "sync.tasks.drain_task", connection_id, tenant_id, cluster="sync", task_name=f"drain-{connection_id}"
        )
    return len(pairs)


def sweep_task() -> dict:
    """Every few minutes: resume what a killed worker left behind."""
    from sync.services.sweeper import sweep

    return sweep()


def poll_sources_task() -> int:
    """Every 15 minutes: pull changes from every active source connection (the webhook safety net)."""
    from sync.services.polling import sources_poll_due

    return sources_poll_due()


def xero_invoices_poll_task() -> dict:
    """Every 15 minutes: invoices changed in Xero since the watermark (INVOICE webhooks can be missed)."""
    from sync.services.invoice_status import xero_invoices_poll_due

    return xero_invoices_poll_due()


def alerts_task() -> int:
    """Every 5 minutes: failure digests, day limits and silent webhooks, tenant by tenant."""
    from sync.models import SyncJob, WebhookStats
    from sync.services.alerts import day_limit_alert, failures_alert, webhook_silence_alert

    sent = 0
    # The scheduler looks across tenants for who has something to report; each alert is built in its scope.
    with all_tenants():
        tenant_ids = set(
            SyncJob.objects.filter(state__in=(SyncJob.State.NEEDS_ATTENTION, SyncJob.State.DEAD))
            .values_list("tenant_id", flat=True)
            .distinct()
        )
        parked = list(Connection.objects.filter(provider="xero", day_limit_reset_at__isnull=False))
        stats = list(WebhookStats.objects.all())
    for tenant in Tenant.objects.filter(pk__in=tenant_ids):
        with tenant_scope(tenant):
            sent += failures_alert(tenant=tenant) is not None
    for connection in parked:
        with tenant_scope(connection.tenant_id):
            sent += day_limit_alert(connection=connection) is not None
    for row in stats:
        with tenant_scope(row.tenant_id):
            sent += webhook_silence_alert(stats=row) is not None
    return sent


def drain_alerts_task(connection_id: int, tenant_id: int, failures: bool, day_limit: bool) -> int:
    """Right after a drain run: what it found to report (failed records, Xero's day limit), within the alerts'
    own throttling. Returns how many alerts were sent."""
    from sync.services.alerts import day_limit_alert, failures_alert

    tenant = Tenant.objects.get(pk=tenant_id)
    sent = 0
    with tenant_scope(tenant):
        if failures:
            sent += failures_alert(tenant=tenant) is not None
        if day_limit:
            sent += day_limit_alert(connection=Connection.objects.get(pk=connection_id)) is not None
    return sent


def needs_attention_recheck_task() -> int:
    """Every 5 minutes: jobs held for a mapping gap that has since been fixed go back to the queue."""
    from sync.models import SyncJob
    from sync.services.operations import needs_attention_recheck

    # Across tenants to find who has held jobs; each recheck runs in its own tenant's scope.
    with all_tenants():
        pairs = list(
            SyncJob.objects.filter(state=SyncJob.State.NEEDS_ATTENTION)
            .values_list("xero_connection_id", "tenant_id")
            .distinct()
        )
    released = 0
    for connection_id, tenant_id in pairs:
        with tenant_scope(tenant_id):
            released += needs_attention_recheck(xero_connection=Connection.objects.get(pk=connection_id))
    return released


def write_backs_run_task(connection_id: int, tenant_id: int) -> dict:
    from sync.services.write_backs import write_backs_run

    with tenant_scope(Tenant.objects.get(pk=tenant_id)):
        return write_backs_run(connection=Connection.objects.get(pk=connection_id))


def write_backs_due_task() -> int:
    """Every minute: enqueue a run for each connection with write-backs due (retries, and any enqueue that was lost)."""
    from django.db.models import Q
    from django.utils import timezone
    from django_q.tasks import async_task

    from sync.models import WriteBack

    now = timezone.now()
    # The scheduler looks across tenants for due work; each run then happens in its own tenant's scope.
    with all_tenants():
        pairs = list(
            WriteBack.objects.filter(
                Q(state=WriteBack.State.PENDING, next_attempt_at__lte=now)
                | Q(state=WriteBack.State.RUNNING, lease_expires_at__lt=now)
            )
            .values_list("connection_id", "tenant_id")
            .distinct()
        )
    for connection_id, tenant_id in pairs:
        async_task(
            "sync.tasks.write_backs_run_task",
            connection_id,
            tenant_id,
            cluster="sync",
            task_name=f"write-backs-{connection_id}",
        )
    return len(pairs)


def xero_contacts_import_task(source_connection_id: int, tenant_id: int) -> dict:
    """The initial import of Xero contacts into one source connection."""
    from sync.services.staging import xero_connection_of
    from sync.services.xero_contacts import xero_contacts_import

    with tenant_scope(Tenant.objects.get(pk=tenant_id)):
        return xero_contacts_import(
            xero_connection=xero_connection_of(tenant_id=tenant_id),
            source_connection=Connection.objects.get(pk=source_connection_id),
        )


def xero_contacts_imports_due_task() -> int:
    """Every 5 minutes: start the initial import for sources that take Xero contacts and have not had it yet (a
    Xero connection just made, or the policy just switched on)."""
    from django_q.tasks import async_task

    from mappings.models import ContactPolicy
    from sync.models import SourceCursor
    from sync.services.xero_contacts import IMPORT_ENTITY

    # Across tenants to find who is due; each import runs in its own tenant's scope.
    with all_tenants():
        done = SourceCursor.objects.filter(entity=IMPORT_ENTITY, last_polled_at__isnull=False).values("connection_id")
        due = list(
            ContactPolicy.objects.filter(contacts_from_xero=True, source_connection__status=Connection.Status.ACTIVE)
            .exclude(source_connection_id__in=done)
            .filter(
                tenant_id__in=Connection.objects.filter(provider="xero", status=Connection.Status.ACTIVE).values(
                    "tenant_id"
                )
            )
            .values_list("source_connection_id", "tenant_id")
            .distinct()
        )
    for source_connection_id, tenant_id in due:
        async_task(
            "sync.tasks.xero_contacts_import_task",
            source_connection_id,
            tenant_id,
            cluster="sync",
            task_name=f"xero-contacts-import-{source_connection_id}",
        )
    return len(due)


def xero_stock_poll_task() -> dict:
    """Every 15 minutes: Xero's tracked item quantities to the sources whose stock Xero masters."""
    from mappings.models import SystemOfRecord
    from sync.services.xero_stock import xero_stock_poll

    # Across tenants to find who has Xero as the inventory master; each poll runs in its own tenant's scope.
    with all_tenants():
        tenant_ids = set(
            SystemOfRecord.objects.filter(field_group="stock", owner="xero").values_list("tenant_id", flat=True)
        )
        connections = list(
            Connection.objects.filter(tenant_id__in=tenant_ids, provider="xero", status=Connection.Status.ACTIVE)
        )
    summary = {}
    for connection in connections:
        with tenant_scope(connection.tenant_id):
            try:
                summary[connection.pk] = xero_stock_poll(xero_connection=connection)
            except Exception:
                # One tenant's trouble (Xero down, revoked access) must not stop the others; logged in full.
                logger.exception("stock poll of Xero connection %s failed", connection.pk)
    return summary


def backfill_run_task(backfill_id: int, tenant_id: int) -> dict:
    """Read and stage (or dry-run) one backfill; running it again resumes it."""
    from sync.models import Backfill
    from sync.services.backfill import backfill_run
    from sync.services.backfill_budget import backfill_progress

    with tenant_scope(Tenant.objects.get(pk=tenant_id)):
        backfill = backfill_run(backfill=Backfill.objects.get(pk=backfill_id))
        return backfill_progress(backfill=backfill)
