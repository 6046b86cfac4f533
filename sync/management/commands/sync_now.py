import json
import time

from django.core.management.base import BaseCommand, CommandError

from connections.models import Connection
from core.errors import ApplicationError
from sync.models import InboundEvent, SyncJob
from sync.services.drain import drain_run
from sync.services.processing import inbound_events_process_pending
from tenants.models import Tenant
from tenants.scoping import tenant_scope


def tenant_by_slug(value: str) -> Tenant:
    """`agency-slug/tenant-slug`, or a tenant slug that is unique across agencies."""
    agency_slug, _, tenant_slug = value.rpartition("/")
    tenants = Tenant.objects.filter(slug=tenant_slug)
    if agency_slug:
        tenants = tenants.filter(agency__slug=agency_slug)
    found = list(tenants[:2])
    if not found:
        raise CommandError(f"No tenant '{value}'.")
    if len(found) > 1:
        raise CommandError(f"'{value}' names tenants in several agencies; use agency-slug/tenant-slug.")
    return found[0]


class Command(BaseCommand):
    help = "Poll a tenant's sources, process what came in, and drain to Xero until idle. Prints one JSON object."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="tenant slug, or agency-slug/tenant-slug")
        parser.add_argument("--wait", action="store_true", help="keep draining until no job is due (retries too)")
        parser.add_argument("--timeout", type=float, default=600.0, help="give up waiting after this many seconds")

    def handle(self, *args, **options):
        tenant = tenant_by_slug(options["tenant"])
        started = time.monotonic()
        with tenant_scope(tenant):
            sources = Connection.objects.filter(status=Connection.Status.ACTIVE).exclude(provider__in=["xero", "rest"])
            polled = {}
            for source in sources:
                from sync.services.polling import source_poll

                try:
                    polled[source.display_name] = source_poll(connection=source)
                except ApplicationError as exc:
                    polled[source.display_name] = {"error": exc.message}
            processed = inbound_events_process_pending()
            drained = {"batches": 0, "done": 0, "needs_attention": 0, "retrying": 0}
            for xero in Connection.objects.filter(provider="xero", status=Connection.Status.ACTIVE):
                while True:
                    report = drain_run(xero_connection=xero)
                    for key in drained:
                        drained[key] += getattr(report, key)
                    due = SyncJob.objects.filter(xero_connection=xero, state=SyncJob.State.PENDING).exists()
                    if not (options["wait"] and due) or time.monotonic() - started > options["timeout"]:
                        break
                    time.sleep(1)
            result = {
                "tenant": tenant.slug,
                "polled": polled,
                "processed": processed,
                "drained": drained,
                "pending_jobs": SyncJob.objects.filter(state=SyncJob.State.PENDING).count(),
                "needs_attention": SyncJob.objects.filter(state=SyncJob.State.NEEDS_ATTENTION).count(),
                "dead_letters": SyncJob.objects.filter(state=SyncJob.State.DEAD).count(),
                "events_waiting": InboundEvent.objects.filter(status=InboundEvent.Status.RECEIVED).count(),
                "seconds": round(time.monotonic() - started, 2),
            }
        self.stdout.write(json.dumps(result))
