import json

from django.core.management.base import BaseCommand, CommandError

from core.errors import ApplicationError
from sync.management.commands.sync_now import tenant_by_slug
from sync.services import backfill as service
from sync.services.backfill_budget import DEFAULT_BUDGET_SHARE, backfill_progress
from tenants.scoping import tenant_scope


class Command(BaseCommand):
    help = (
        "Historical migration of a tenant's source records into Xero from a date: --dry-run reports what would be "
        "created, matched or blocked without writing to Xero; otherwise the records are linked or staged as "
        "backfill jobs that the drain sends within --budget-share of the day's Xero calls. --id resumes, shows or "
        "(with --cancel) cancels an existing backfill."
    )
    # Tests and the demo pass the sandbox's httpx transport through call_command.
    stealth_options = ("transport",)

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="tenant slug, or agency-slug/tenant-slug")
        parser.add_argument("--since", help="first day (YYYY-MM-DD, UTC) or an ISO 8601 date-time")
        parser.add_argument("--entities", default=",".join(service.ENTITIES), help="comma-separated: %(default)s")
        parser.add_argument("--dry-run", action="store_true", help="report only: nothing is written to Xero")
        parser.add_argument("--budget-share", default=str(DEFAULT_BUDGET_SHARE), help="share of the day's Xero calls")
        parser.add_argument("--id", type=int, help="an existing backfill: resume it, or show its progress")
        parser.add_argument("--cancel", action="store_true", help="with --id: cancel it")
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args, **options):
        tenant = tenant_by_slug(options["tenant"])
        with tenant_scope(tenant):
            try:
                backfill = self._backfill(tenant, options)
            except ApplicationError as exc:
                raise CommandError(exc.message) from None
            progress = backfill_progress(backfill=service.backfill_refresh(backfill=backfill))
        if backfill.dry_run:
            progress["report"] = backfill.report
        if options["json"]:
            self.stdout.write(json.dumps(progress))
            return
        self.stdout.write(
            f"{'Dry run' if backfill.dry_run else 'Backfill'} {backfill.pk} ({progress['status']}): "
            f"{progress['done']}/{progress['total']} done, {progress['created']} created, "
            f"{progress['matched']} matched, {progress['blocked']} blocked"
            + (f", about {progress['eta_seconds']} s to go" if progress["eta_seconds"] else "")
        )
        for cause in backfill.report.get("causes", []):
            self.stdout.write(f"  blocked ×{cause['count']}: {cause['cause']}")

    def _backfill(self, tenant, options):
        if options["id"]:
            backfill = service.backfill_get(tenant=tenant, id=options["id"])
            if options["cancel"]:
                return service.backfill_cancel(backfill=backfill, actor="the backfill command")
            if not backfill.report.get("read_complete"):
                # Resume: staging finds what is already staged.
                service.backfill_run(backfill=backfill, transport=options.get("transport"))
            return backfill
        if not options["since"]:
            raise CommandError("Give --since (or --id for an existing backfill).")
        backfill = service.backfill_create(
            tenant=tenant,
            since=service.since_parse(options["since"]),
            entities=[e.strip() for e in options["entities"].split(",") if e.strip()],
            dry_run=options["dry_run"],
            budget_share=options["budget_share"],
            requested_by="the backfill command",
        )
        return service.backfill_run(backfill=backfill, transport=options.get("transport"))
