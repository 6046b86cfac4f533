"""bench_reconcile: reconcile a store of N synced orders with seeded discrepancies of every class. Prints one JSON.

The world (a Magento store, its Xero organisation, the synced state and the discrepancies) is built first and is
not timed (`build_seconds`); the reconciliation then runs in a child process with DEBUG off, so `seconds` and
`peak_rss_mb` are the run's own. Findings are compared with the ground truth: the injected discrepancies plus what
the world holds by itself (records the sync would hold back, invoices that carry a rounding line).
`min_xero_calls` is ceil(records / 1000) for each Xero collection the comparison reads (at least one call each).

A large world takes far longer to build than to reconcile, so `--save-world FILE` keeps it and writes its ground
truth to FILE, and `--reuse-world FILE` reconciles that world again: a run only reads the store and the organisation
(and adds its own run and mismatches, which are told apart by run), so a second run compares exactly what the first
did, at the same cost.
"""

import json
import math
import os
import subprocess
import sys
import time
from datetime import date, timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from sync.management.bench_world import (
    cpu_seconds,
    db_cpu_seconds,
    peak_rss_mb,
    statistics_refresh,
    world_build,
    world_remove,
)


class Command(BaseCommand):
    help = "Benchmark reconciliation on a fresh sandbox world with seeded discrepancies; print one JSON object."

    def add_arguments(self, parser):
        parser.add_argument("--records", type=int, default=1000, help="synced orders")
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--share", type=float, default=0.02, help="share of records made wrong")
        parser.add_argument("--json", action="store_true", help="(the output is always one JSON object)")
        parser.add_argument("--keep", action="store_true", help="keep the world afterwards")
        parser.add_argument("--save-world", metavar="FILE", help="keep the world and write its ground truth to FILE")
        parser.add_argument("--reuse-world", metavar="FILE", help="reconcile the world saved in FILE again")
        parser.add_argument(
            "--in-process", action="store_true", help="reconcile in this process (tests; RSS then includes the build)"
        )
        parser.add_argument("--run-tenant", type=int, help="internal: reconcile an existing world")
        parser.add_argument("--period", nargs=2, help="internal: the period's first and last day")

    def handle(self, *args, **options):
        if not settings.SANDBOX_ENABLED:
            raise CommandError("bench_reconcile needs the sandbox (SANDBOX_ENABLED).")
        if options["run_tenant"]:
            start, end = (date.fromisoformat(day) for day in options["period"])
            self.stdout.write(json.dumps(run_measured(options["run_tenant"], start, end)))
            return
        if options["reuse_world"]:
            with open(options["reuse_world"]) as saved:
                world = json.load(saved)
            _xero_tokens_renew(world["tenant_pk"])
            self.stdout.write(json.dumps(reconcile(world, in_process=options["in_process"])))
            return
        result = bench(
            options["records"],
            seed=options["seed"],
            share=options["share"],
            keep=options["keep"] or bool(options["save_world"]),
            in_process=options["in_process"],
            save_to=options["save_world"],
        )
        self.stdout.write(json.dumps(result))


def bench(
    records: int, *, seed: int, share: float, keep: bool, in_process: bool = False, save_to: str | None = None
) -> dict:
    from mappings.models import PostingPolicy
    from reconciliation.management.injection import discrepancies_inject
    from reconciliation.management.synced_world import synced_state_build
    from sandbox.xero.models import CreditNote, Invoice, Payment
    from tenants.scoping import tenant_scope

    started = time.monotonic()
    world = world_build(orders=records, customers=max(1, records * 2 // 5), seed=seed, label="recon")
    try:
        state = synced_state_build(tenant=world.tenant, xero=world.xero, source=world.source)
        with tenant_scope(world.tenant):
            rounding_account = PostingPolicy.objects.get(source_connection=world.source).rounding_account_code
        truth = discrepancies_inject(state=state, share=share, seed=seed, rounding_account=rounding_account)
        # Every document of the world falls in the period (refunds can be dated after today).
        dates = [
            day
            for model in (Invoice, CreditNote, Payment)
            for day in model.objects.filter(org__tenant_id=world.tenant_id).values_list("date", flat=True)
        ]
        period = (min(dates) - timedelta(days=2), max(max(dates), date.today()) + timedelta(days=1))
        statistics_refresh()
        world_saved = {
            "records": records,
            "tenant_pk": world.tenant.pk,
            "period": [day.isoformat() for day in period],
            "collections": _collection_sizes(world.tenant_id, period),
            "truth": sorted(truth),
            "held": sorted(state.held),
            "synced": state.counts,
            "build_seconds": round(time.monotonic() - started, 1),
        }
        if save_to:
            with open(save_to, "w") as saved:
                json.dump(world_saved, saved)
        return reconcile(world_saved, in_process=in_process)
    finally:
        if not keep:
            world_remove(world)


def _xero_tokens_renew(tenant_pk: int) -> None:
    """Refresh a saved world's Xero tokens before it is reconciled again, as a live connection keeps them fresh.

    The simulated organisation's access tokens expire after 30 minutes like Xero's; the world's connection is set up
    without the app's client secret (the benchmark never refreshes within a run), so the refresh is done here.
    """
    from connections import crypto
    from connections.models import Connection
    from connections.services import connection_set_credentials
    from sandbox.xero.models import RefreshToken
    from sandbox.xero.services.auth import token_refresh
    from tenants.models import Tenant
    from tenants.scoping import tenant_scope

    with tenant_scope(Tenant.objects.get(pk=tenant_pk)):
        xero = Connection.objects.get(provider="xero")
        refresh_token = crypto.credentials_read(xero)["refresh_token"]
        app = RefreshToken.objects.select_related("grant__app").get(token=refresh_token).grant.app
        tokens = token_refresh(app=app, refresh_token=refresh_token)
        credentials = {"access_token": tokens.access_token, "refresh_token": tokens.refresh_token}
        connection_set_credentials(
            connection=xero, credentials={**credentials, "expires_at": str(10**10)}, activate=False, actor="bench"
        )


def reconcile(world: dict, *, in_process: bool) -> dict:
    """Reconcile a built world (as `bench` describes it) once, and score the findings against its ground truth."""
    from tenants.models import Tenant

    tenant = Tenant.objects.get(pk=world["tenant_pk"])
    period = tuple(date.fromisoformat(day) for day in world["period"])
    truth = {tuple(key) for key in world["truth"]}
    held = {tuple(key) for key in world["held"]}
    measured = run_measured(tenant.pk, *period) if in_process else _child(tenant.pk, period)
    expected = truth | held
    found = _found(tenant, measured["run_id"])
    return {
        "records": world["records"],
        "seconds": measured["seconds"],
        "cpu_seconds": measured["cpu_seconds"],
        "db_cpu_seconds": measured["db_cpu_seconds"],
        "peak_rss_mb": measured["peak_rss_mb"],
        "xero_calls": measured["xero_calls"],
        "min_xero_calls": sum(max(1, math.ceil(n / 1000)) for n in world["collections"].values()),
        "mismatches_injected": len(truth),
        "mismatches_found": len(found),
        "false_positives": len(found - expected),
        "false_negatives": len(expected - found),
        "expected_without_injection": len(held),
        "status": measured["status"],
        "build_seconds": world["build_seconds"],
        "xero_records_read": world["collections"],
        "synced": world["synced"],
        "found_by_kind": _by_kind(found),
        "missed_sample": sorted(expected - found)[:5],
        "unexpected_sample": sorted(found - expected)[:5],
    }


def _collection_sizes(tenant_id: str, period) -> dict:
    """How many records each collection the run reads holds (what its pages must cover)."""
    from sandbox.xero.models import Contact, CreditNote, Invoice, Payment

    start, end = period
    return {
        "invoices": Invoice.objects.filter(
            org__tenant_id=tenant_id, type="ACCREC", date__gte=start, date__lte=end
        ).count(),
        "credit_notes": CreditNote.objects.filter(
            org__tenant_id=tenant_id, type="ACCRECCREDIT", date__gte=start, date__lte=end
        ).count(),
        "payments": Payment.objects.filter(
            org__tenant_id=tenant_id, payment_type="ACCRECPAYMENT", date__gte=start, date__lte=end
        ).count(),
        "contacts": Contact.objects.filter(org__tenant_id=tenant_id).count(),
    }


def _found(tenant, run_id: int) -> set[tuple[str, str, str]]:
    from reconciliation.models import Mismatch
    from tenants.scoping import tenant_scope

    with tenant_scope(tenant):
        rows = Mismatch.objects.filter(run_id=run_id).values_list("kind", "entity", "source_id", "xero_id")
        return {(kind, entity, source_id or xero_id) for kind, entity, source_id, xero_id in rows}


def _by_kind(found) -> dict:
    counts = {}
    for kind, entity, _ in found:
        counts[f"{entity}.{kind}"] = counts.get(f"{entity}.{kind}", 0) + 1
    return dict(sorted(counts.items()))


def _child(tenant_pk: int, period) -> dict:
    child = subprocess.run(  # noqa: S603 - runs this same command, no outside input
        [
            sys.executable,
            str(settings.BASE_DIR / "manage.py"),
            "bench_reconcile",
            "--run-tenant",
            str(tenant_pk),
            "--period",
            period[0].isoformat(),
            period[1].isoformat(),
        ],
        capture_output=True,
        text=True,
        check=False,
        # DEBUG keeps every SQL statement in memory: a measured run must not carry that.
        env={**os.environ, "DEBUG": "false"},
    )
    if child.returncode != 0:
        raise CommandError(f"the measured run failed:\n{child.stderr[-3000:]}")
    return json.loads(child.stdout.strip().splitlines()[-1])


def run_measured(tenant_pk: int, period_start: date, period_end: date) -> dict:
    """The measured part, in its own process: one reconciliation run of the period."""
    from reconciliation.models import ReconciliationRun
    from reconciliation.services import reconciliation_run
    from sandbox.transport import SandboxTransport
    from tenants.models import Tenant

    tenant = Tenant.objects.get(pk=tenant_pk)
    started, cpu_before, db_cpu_before = time.monotonic(), cpu_seconds(), db_cpu_seconds()
    # The simulated organisation's rate limits are off for benchmarks (bench_world); ours follow them.
    run = reconciliation_run(
        tenant=tenant,
        period_start=period_start,
        period_end=period_end,
        trigger=ReconciliationRun.Trigger.BENCHMARK,
        transport=SandboxTransport(),
        rate_limiter=False,
    )
    seconds, db_cpu_after = round(time.monotonic() - started, 2), db_cpu_seconds()
    return {
        "seconds": seconds,
        # CPU time as well as wall time: on a shared machine the wall clock measures the neighbours too. The
        # simulators answer in this process, on its database connection, so both figures include their work.
        "cpu_seconds": round(cpu_seconds() - cpu_before, 2),
        "db_cpu_seconds": round(db_cpu_after - db_cpu_before, 2) if db_cpu_after is not None else None,
        "peak_rss_mb": peak_rss_mb(),
        "xero_calls": run.xero_calls,
        "run_id": run.pk,
        "status": run.status if not run.error else f"{run.status}: {run.error}",
    }
