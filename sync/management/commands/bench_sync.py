"""bench_sync: the whole path (inbound, staging, drain) on a fresh sandbox world, measured. Prints one JSON object.

The measured run happens in a child process, so peak RSS is the sync path's own, not the data generator's.
`naive` is the baseline of a per-record connector through the same jobs, payloads and client: for each order it
looks the customer up in Xero, creates the contact when missing, then creates the invoice, one call each.
"""

import json
import os
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from sync.management.bench_world import peak_rss_mb, world_build, world_remove, xero_calls, xero_counts


class Command(BaseCommand):
    help = "Benchmark the sync path on a fresh sandbox world (Xero limits off) and print one JSON object."

    def add_arguments(self, parser):
        parser.add_argument("--orders", type=int, default=1000)
        parser.add_argument("--customers", type=int, default=None)
        parser.add_argument("--mode", choices=["batched", "naive"], default="batched")
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--json", action="store_true", help="(the output is always one JSON object)")
        parser.add_argument("--keep", action="store_true", help="keep the world afterwards")
        parser.add_argument("--run-tenant", type=int, help=f"internal: measure an existing world ({__name__})")

    def handle(self, *args, **options):
        if not settings.SANDBOX_ENABLED:
            raise CommandError("bench_sync needs the sandbox (SANDBOX_ENABLED).")
        if options["run_tenant"]:
            self.stdout.write(json.dumps(run_measured(options["run_tenant"], options["mode"])))
            return
        orders = options["orders"]
        customers = options["customers"] or max(1, orders * 2 // 5)
        world = world_build(orders=orders, customers=customers, seed=options["seed"])
        try:
            child = subprocess.run(  # noqa: S603 - runs this same command, no outside input
                [
                    sys.executable,
                    str(settings.BASE_DIR / "manage.py"),
                    "bench_sync",
                    "--mode",
                    options["mode"],
                    "--run-tenant",
                    str(world.tenant.pk),
                ],
                capture_output=True,
                text=True,
                check=False,
                # DEBUG keeps every SQL statement in memory: a measured run must not carry that.
                env={**os.environ, "DEBUG": "false"},
            )
            if child.returncode != 0:
                raise CommandError(f"the measured run failed:\n{child.stderr[-3000:]}")
            measured = json.loads(child.stdout.strip().splitlines()[-1])
            counts = xero_counts(world)
            result = {
                "orders": orders,
                "customers": customers,
                "mode": options["mode"],
                "seconds": measured["seconds"],
                "orders_per_second": round(orders / measured["seconds"], 1),
                "xero_calls": measured["xero_calls"],
                "calls_per_1000_orders": round(measured["xero_calls"] * 1000 / orders, 1),
                "peak_rss_mb": measured["peak_rss_mb"],
                "peak_rss_mb_after": measured["peak_rss_mb_after"],
                "invoices_in_xero": counts["invoices_in_xero"],
                "contacts_in_xero": counts["contacts_in_xero"],
                "expected_invoices": measured["expected_invoices"],
                "jobs": measured["jobs"],
                "phases": measured["phases"],
                "xero_requests_by_operation": measured.get("xero_requests_by_operation", {}),
                # Issue 6's measure: the requests that carry customers and orders (contacts and invoices).
                "contact_and_invoice_calls_per_1000_orders": round(
                    sum(
                        n
                        for op, n in measured.get("xero_requests_by_operation", {}).items()
                        if op in ("contact.upsert", "invoice.upsert")
                    )
                    * 1000
                    / orders,
                    1,
                ),
            }
        finally:
            if not options["keep"]:
                world_remove(world)
        self.stdout.write(json.dumps(result))


def run_measured(tenant_pk: int, mode: str) -> dict:
    """The measured part, in its own process: poll the store, process the inbox, drain to Xero until idle."""
    from django.db.models import Count

    from connections.models import Connection
    from connections.providers.xero.tokens import xero_client_for
    from sandbox.transport import SandboxTransport
    from sync.management.bench_world import BenchWorld
    from sync.models import SyncJob
    from sync.services.drain import drain_run
    from sync.services.polling import source_poll
    from sync.services.processing import inbound_events_process_pending
    from tenants.models import Tenant
    from tenants.scoping import tenant_scope

    tenant = Tenant.objects.get(pk=tenant_pk)
    transport = SandboxTransport()
    with tenant_scope(tenant):
        xero = Connection.objects.get(provider="xero")
        source = Connection.objects.get(provider="magento")
        world = BenchWorld(
            tenant=tenant,
            xero=xero,
            source=source,
            tenant_id=xero.external_account_id,
            store_code=source.external_account_id,
        )
        calls_before = xero_calls(world)
        # Peak RSS after each phase: which one makes memory grow with the size of the run.
        phases, requests, rss = {}, {}, {}
        started = time.monotonic()
        source_poll(connection=source, transport=transport)
        phases["poll"] = round(time.monotonic() - started, 2)
        rss["poll"] = peak_rss_mb()
        mark = time.monotonic()
        inbound_events_process_pending(transport=transport, limit=10**9)
        phases["process"] = round(time.monotonic() - mark, 2)
        rss["process"] = peak_rss_mb()
        mark = time.monotonic()

        def client_factory(connection, transport):
            # The sandbox's limits are off for this run; ours follow them.
            return xero_client_for(connection, transport=transport, rate_limiter=False)

        if mode == "naive":
            from sync.management.naive import naive_run

            naive_run(xero_connection=xero, client=client_factory(xero, transport))
        else:
            while SyncJob.objects.filter(state=SyncJob.State.PENDING).exists():
                report = drain_run(
                    xero_connection=xero, transport=transport, client_factory=client_factory, time_budget=3600
                )
                for operation, n in report.requests_by_operation.items():
                    requests[operation] = requests.get(operation, 0) + n
                if report.batches == 0:
                    break
        phases["drain"] = round(time.monotonic() - mark, 2)
        rss["drain"] = peak_rss_mb()
        seconds = round(time.monotonic() - started, 2)
        jobs = dict(SyncJob.objects.values_list("state").annotate(n=Count("id")).values_list("state", "n"))
        expected = (
            SyncJob.objects.filter(entity="invoice", operation=SyncJob.Operation.INVOICE_UPSERT)
            .exclude(state="discarded")
            .count()
        )
        return {
            "seconds": seconds,
            "phases": phases,
            "xero_calls": xero_calls(world) - calls_before,
            "peak_rss_mb": peak_rss_mb(),
            "peak_rss_mb_after": rss,
            "jobs": jobs,
            "expected_invoices": expected,
            "xero_requests_by_operation": requests,
        }
