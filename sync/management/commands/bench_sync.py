"""bench_sync: the whole path (inbound, staging, drain) on a fresh sandbox world, measured. Prints one JSON object.

The measured run happens in child processes (a poll, a process and a drain worker, running concurrently as the
qcluster's workers do), so peak RSS is the sync path's own, not the data generator's.
`naive` is the baseline of a per-record connector through the same jobs, payloads and client: for each order it
looks the customer up in Xero, creates the contact when missing, then creates the invoice, one call each.
calls_per_1000_orders counts the requests to Contacts and Invoices, lookups included, which is everything the naive
mode sends; all_calls_per_1000_orders adds what only the batched mode goes on to send (payments, refunds, items).
"""

import collections
import json
import os
import subprocess
import sys
import threading
import time

import httpx
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from sync.management.bench_world import (
    cpu_seconds,
    db_cpu_seconds,
    db_server_cpu_seconds,
    peak_rss_mb,
    statistics_refresh,
    world_build,
    world_remove,
    xero_calls,
    xero_counts,
)


class Command(BaseCommand):
    help = "Benchmark the sync path on a fresh sandbox world (Xero limits off) and print one JSON object."

    def add_arguments(self, parser):
        parser.add_argument("--orders", type=int, default=1000)
        parser.add_argument("--customers", type=int, default=None)
        parser.add_argument("--mode", choices=["batched", "naive"], default="batched")
        parser.add_argument(
            "--xero",
            choices=["server", "in-process"],
            default="server",
            help="the simulated Xero as a gunicorn server of its own (default), or inside the drain's process",
        )
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--json", action="store_true", help="(the output is always one JSON object)")
        parser.add_argument("--keep", action="store_true", help="keep the world afterwards")
        parser.add_argument("--run-tenant", type=int, help=f"internal: measure an existing world ({__name__})")
        parser.add_argument("--worker", choices=WORKERS, help="internal: run one worker of the measured run")
        parser.add_argument("--after", help="internal: the marker file of the worker upstream of this one")
        parser.add_argument("--start", help="internal: the marker file that starts the measured run")
        parser.add_argument("--xero-origin", help="internal: where the simulated Xero is served (--xero server)")

    def handle(self, *args, **options):
        if not settings.SANDBOX_ENABLED:
            raise CommandError("bench_sync needs the sandbox (SANDBOX_ENABLED).")
        if options["worker"]:
            args = (
                options["run_tenant"],
                options["mode"],
                options["worker"],
                options["after"],
                options["start"],
                options["xero_origin"],
            )
            if os.environ.get("BENCH_PROFILE"):
                # Where the time goes, per worker: BENCH_PROFILE=<dir> writes <dir>/<worker>.prof (cProfile).
                import cProfile

                profiler = cProfile.Profile()
                result = profiler.runcall(run_worker, *args)
                os.makedirs(os.environ["BENCH_PROFILE"], exist_ok=True)
                profiler.dump_stats(os.path.join(os.environ["BENCH_PROFILE"], f"{options['worker']}.prof"))
            else:
                result = run_worker(*args)
            self.stdout.write(json.dumps(result))
            return
        if options["run_tenant"]:
            self.stdout.write(json.dumps(run_measured(options["run_tenant"], options["mode"], options["xero"])))
            return
        orders = options["orders"]
        customers = options["customers"] or max(1, orders * 2 // 5)
        world = world_build(orders=orders, customers=customers, seed=options["seed"])
        statistics_refresh()  # not measured: what autovacuum would have done before the orders arrive
        try:
            child = subprocess.run(  # noqa: S603 - runs this same command, no outside input
                [
                    sys.executable,
                    str(settings.BASE_DIR / "manage.py"),
                    "bench_sync",
                    "--mode",
                    options["mode"],
                    "--xero",
                    options["xero"],
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
            by_endpoint = measured["xero_requests_by_endpoint"]
            counts = xero_counts(world)
            result = {
                "orders": orders,
                "customers": customers,
                "mode": options["mode"],
                "xero": options["xero"],
                "seconds": measured["seconds"],
                "cpu_seconds": measured["cpu_seconds"],
                "db_cpu_seconds": measured["db_cpu_seconds"],
                "orders_per_second": round(orders / measured["seconds"], 1),
                "xero_calls": measured["xero_calls"],
                # Issue 6's measure, and the flows both modes send: customers and orders (contacts and invoices).
                "calls_per_1000_orders": per_1000(sum(by_endpoint.get(name, 0) for name in ORDER_FLOWS), orders),
                "calls_per_1000_orders_counts": "requests to Contacts and Invoices, the flows both modes send",
                # Every call, with what only the batched mode sends after them: payments, refunds and items.
                "all_calls_per_1000_orders": per_1000(measured["xero_calls"], orders),
                "peak_rss_mb": measured["peak_rss_mb"],
                "peak_rss_mb_after": measured["peak_rss_mb_after"],
                "peak_rss_of": measured["peak_rss_of"],
                "invoices_in_xero": counts["invoices_in_xero"],
                "contacts_in_xero": counts["contacts_in_xero"],
                "expected_invoices": measured["expected_invoices"],
                "jobs": measured["jobs"],
                "phases": measured["phases"],
                "cpu_seconds_of": measured["cpu_seconds_of"],
                "db_cpu_seconds_of": measured["db_cpu_seconds_of"],
                "db_cpu_seconds_of_is": "each worker's main connection's backend; db_cpu_seconds is the whole server's",
                "xero_requests_by_endpoint": by_endpoint,
                "xero_requests_by_operation": measured["xero_requests_by_operation"],
            }
        finally:
            if not options["keep"]:
                world_remove(world)
        self.stdout.write(json.dumps(result))


WORKERS = ("poll", "process", "drain")
# The endpoints that carry customers and orders, lookups included: all the naive baseline sends, so the ratio
# between the modes holds. The batched mode also sends payments, refunds and items (all_calls_per_1000_orders).
ORDER_FLOWS = ("Contacts", "Invoices")


def per_1000(calls: int, orders: int) -> float:
    return round(calls * 1000 / orders, 1)


# How often an idle worker looks for new work (the qcluster's poll interval, shortened for a benchmark).
IDLE_WAIT = 0.05
# While jobs are still being staged, the drain waits for this many full batches: each pass may also send a short
# batch or two (the drain takes contacts before invoices, however few), and fewer passes keep those rare.
DRAIN_BACKLOG = 8


def run_measured(tenant_pk: int, mode: str, xero: str) -> dict:
    """The measured part: poll the store, process the inbox and drain to Xero until idle, as three concurrent
    worker processes (as a qcluster with several workers runs them), each on its own database connection.

    Processing starts on the first page polled and the drain on the first jobs staged. Each worker is told when
    the one before it has finished (a marker file), and stops once that is so and nothing is left for it. The
    clock starts once all three are up (a running qcluster's workers are), and the phases are each worker's busy
    time; peak RSS is the largest of the three processes'. With `xero` "server" the simulated Xero answers from a
    gunicorn server of its own (1 worker, 4 threads), as Xero does from its own machines; its CPU counts in
    cpu_seconds all the same, since it shares this machine's cores.
    """
    import contextlib
    import tempfile

    from core.management.gunicorn_server import GunicornServer
    from core.management.processes import cpu_since

    with tempfile.TemporaryDirectory(prefix="bench-sync-") as markers, contextlib.ExitStack() as stack:
        server = None
        if xero == "server":
            server = stack.enter_context(
                GunicornServer(env={**os.environ, "DEBUG": "false", "LOG_LEVEL": "ERROR"}, workers=1, threads=4)
            )
        done = {name: os.path.join(markers, f"{name}.done") for name in WORKERS}
        upstream = {"poll": None, "process": done["poll"], "drain": done["process"]}
        go = os.path.join(markers, "go")
        workers = {}
        for name in WORKERS:
            command = [
                sys.executable,
                str(settings.BASE_DIR / "manage.py"),
                "bench_sync",
                "--mode",
                mode,
                "--run-tenant",
                str(tenant_pk),
                "--worker",
                name,
                "--start",
                go,
            ]
            if upstream[name]:
                command += ["--after", upstream[name]]
            if server is not None and name == "drain":
                command += ["--xero-origin", server.origin]
            workers[name] = subprocess.Popen(  # noqa: S603 - runs this same command, no outside input
                command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
        while not all(os.path.exists(f"{go}.{name}") for name in WORKERS):
            if any(worker.poll() is not None for worker in workers.values()):
                break  # one failed on its way up: its error is reported below
            time.sleep(IDLE_WAIT)
        started, db_before = time.monotonic(), db_server_cpu_seconds()
        server_before = server.cpu_seconds() if server is not None else {}
        open(go, "w").close()
        results, failed = {}, []
        for name in WORKERS:
            out, err = workers[name].communicate()
            if workers[name].returncode != 0:
                failed.append(f"{name} worker:\n{err[-3000:]}")
            else:
                results[name] = json.loads(out.strip().splitlines()[-1])
            # The next worker stops once its inbox is empty and this marker exists.
            open(done[name], "w").close()
        seconds = round(time.monotonic() - started, 2)
        db_after = db_server_cpu_seconds()
        if server is not None:
            results["xero_server"] = {"cpu_seconds": cpu_since(server_before, server.cpu_seconds())}
    if failed:
        raise CommandError("\n".join(failed))
    drain = results["drain"]
    return {
        "seconds": seconds,
        "cpu_seconds": round(sum(r["cpu_seconds"] for r in results.values()), 2),
        # The whole server's: the drain's sending thread works on a connection of its own, opened and closed by
        # each drain run, which no worker's own backend shows (db_cpu_seconds_of).
        "db_cpu_seconds": round(db_after - db_before, 2) if db_before is not None and db_after is not None else None,
        "phases": {name: results[name]["busy_seconds"] for name in WORKERS},
        "cpu_seconds_of": {name: result["cpu_seconds"] for name, result in results.items()},
        "db_cpu_seconds_of": {name: results[name]["db_cpu_seconds"] for name in WORKERS},
        "xero_calls": drain["xero_calls"],
        "peak_rss_mb": max(results[name]["peak_rss_mb"] for name in WORKERS),
        "peak_rss_mb_after": {name: results[name]["peak_rss_mb"] for name in WORKERS},
        "peak_rss_of": "the largest of the three worker processes",
        "jobs": drain["jobs"],
        "expected_invoices": drain["expected_invoices"],
        "xero_requests_by_operation": drain["xero_requests_by_operation"],
        "xero_requests_by_endpoint": drain["xero_requests_by_endpoint"],
    }


def run_worker(
    tenant_pk: int, mode: str, worker: str, after: str | None, start: str, xero_origin: str | None = None
) -> dict:
    """One worker of the measured run, in its own process: poll, process or drain, until its upstream is done
    (`after` exists) and nothing is left for it. Once set up it says so (`start`.<worker>) and waits for `start`.
    The drain reaches the simulated Xero at `xero_origin` when it is served on its own, else in process."""
    from django.db.models import Count
    from django_q.signals import post_spawn

    from connections.models import Connection
    from sandbox.transport import SandboxTransport
    from sync.management.bench_world import BenchWorld
    from sync.models import InboundEvent, SyncJob
    from sync.services.polling import source_poll
    from sync.services.processing import inbound_events_process_pending
    from tenants.models import Tenant
    from tenants.scoping import tenant_scope

    def upstream_done() -> bool:
        return after is None or os.path.exists(after)

    tenant = Tenant.objects.get(pk=tenant_pk)
    transport = SandboxTransport()
    result = {}
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
        calls_before = xero_calls(world) if worker == "drain" else 0
        # What a qcluster worker loads as it starts (core.warmup) is loaded before the clock starts, as it is there.
        post_spawn.send(sender="django_q", proc_name=f"bench-{worker}")
        open(f"{start}.{worker}", "w").close()
        while not os.path.exists(start):
            time.sleep(IDLE_WAIT / 5)
        # CPU time as well as wall time: on a shared machine the wall clock measures the neighbours too.
        cpu_before, db_cpu_before = cpu_seconds(), db_cpu_seconds()
        busy = 0.0
        if worker == "poll":
            mark = time.monotonic()
            source_poll(connection=source, transport=transport)
            busy = time.monotonic() - mark
        elif worker == "process":
            while True:
                finished = upstream_done()  # read before looking: an event stored after it is still seen
                mark = time.monotonic()
                counts = inbound_events_process_pending(transport=transport, limit=10**9)
                if counts:
                    busy += time.monotonic() - mark
                elif finished and not InboundEvent.objects.filter(status=InboundEvent.Status.RECEIVED).exists():
                    break
                else:
                    time.sleep(IDLE_WAIT)
        else:
            requests = {}
            if xero_origin:
                from sandbox.transport import SandboxServerTransport

                transport = SandboxServerTransport(xero_origin)
            transport = RequestCounter(transport)
            busy = _drain_until_idle(xero, transport, mode, upstream_done, requests)
            result["xero_requests_by_operation"] = requests
            result["xero_requests_by_endpoint"] = dict(transport.by_endpoint)
            result["xero_calls"] = xero_calls(world) - calls_before
            result["jobs"] = dict(
                SyncJob.objects.values_list("state").annotate(n=Count("id")).values_list("state", "n")
            )
            result["expected_invoices"] = (
                SyncJob.objects.filter(entity="invoice", operation=SyncJob.Operation.INVOICE_UPSERT)
                .exclude(state="discarded")
                .count()
            )
        db_cpu_after = db_cpu_seconds()
        result.update(
            busy_seconds=round(busy, 2),
            cpu_seconds=round(cpu_seconds() - cpu_before, 2),
            db_cpu_seconds=round(db_cpu_after - db_cpu_before, 2) if db_cpu_after is not None else None,
            peak_rss_mb=peak_rss_mb(),
        )
    return result


def _drain_until_idle(xero, transport, mode: str, upstream_done, requests: dict) -> float:
    """Drain until staging is over and no job is left; returns the time spent draining.

    While jobs are still being staged, the drain runs once DRAIN_BACKLOG full batches are ready, for that many
    batches (as a scheduler that drains on a backlog would); what is left over goes once staging is over.
    """
    from connections.providers.xero.tokens import xero_client_for
    from sync.models import SyncJob
    from sync.services.drain import drain_run

    def client_factory(connection, transport):
        # The sandbox's limits are off for this run; ours follow them.
        return xero_client_for(connection, transport=transport, rate_limiter=False)

    pending = SyncJob.objects.filter(state=SyncJob.State.PENDING)
    busy = 0.0
    if mode == "naive":
        from sync.management.naive import naive_run

        while not upstream_done():
            time.sleep(IDLE_WAIT)
        mark = time.monotonic()
        naive_run(xero_connection=xero, client=client_factory(xero, transport))
        return time.monotonic() - mark
    while True:
        finished = upstream_done()  # read before looking: jobs staged after it are still seen
        full = None
        if not finished:
            full = _full_batches_ready(pending)
            if full < DRAIN_BACKLOG:
                time.sleep(IDLE_WAIT)
                continue
        mark = time.monotonic()
        report = drain_run(
            xero_connection=xero,
            transport=transport,
            client_factory=client_factory,
            max_batches=full,
            time_budget=3600,
        )
        busy += time.monotonic() - mark
        for operation, n in report.requests_by_operation.items():
            requests[operation] = requests.get(operation, 0) + n
        if finished and (report.batches == 0 or not pending.exists()):
            return busy


class RequestCounter(httpx.BaseTransport):
    """Counts every request that reaches Xero by endpoint (Contacts, Invoices, Payments…), whoever sends it and
    whatever it is: a batch, a lookup or a retried attempt. The drain's lanes send from several threads."""

    def __init__(self, inner: httpx.BaseTransport):
        self.inner = inner
        self.by_endpoint = collections.Counter()
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        endpoint = request.url.path.partition("/api.xro/2.0/")[2].partition("/")[0] or request.url.path
        with self._lock:
            self.by_endpoint[endpoint] += 1
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


def _full_batches_ready(pending) -> int:
    """How many full batches the due jobs whose dependency is already in Xero make, operation by operation."""
    from django.db.models import Count, Exists, OuterRef, Q

    from connections.providers.xero import accounting
    from sync.models import CrossReference

    in_xero = CrossReference.objects.filter(
        source_connection_id=OuterRef("source_connection_id"),
        entity=OuterRef("depends_on_entity"),
        source_id=OuterRef("depends_on_source_id"),
    )
    ready = pending.filter(Q(depends_on_entity="") | Exists(in_xero), next_attempt_at__lte=timezone.now())
    counts = ready.values_list("operation", "entity").annotate(n=Count("id")).values_list("entity", "n")
    return sum(n // accounting.batch_size(entity) for entity, n in counts)
