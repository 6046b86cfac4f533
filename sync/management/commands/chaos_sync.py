"""chaos_sync: the bench world with faults injected, run to completion; prints one JSON object.

Faults on the simulated Xero and Magento (seeded, so a seed reproduces the run): 10% 5xx, 5% extra 429s, 2% of
writes applied and then answered with nothing, one short outage; and the first worker process is killed with
SIGKILL mid-run. A second worker then takes over once the dead one's leases expire. Time is compressed for the
run (SYNC_BACKOFF_SCALE, SYNC_LEASE_SECONDS) so the retry schedule plays out in seconds rather than hours.
"""

import json
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Count, Sum
from django.utils import timezone

from sandbox.faults import fault_profile_set
from sandbox.models import FaultProfile
from sync.management.bench_world import world_build, world_remove, xero_counts

# Compressed time for the run; DEBUG off because it keeps every SQL statement in memory.
CHAOS_ENV = {"SYNC_BACKOFF_SCALE": "0.01", "SYNC_LEASE_SECONDS": "4", "DEBUG": "false"}


class Command(BaseCommand):
    help = "Run the sync path on a fresh sandbox world under injected faults and a killed worker; print JSON."

    def add_arguments(self, parser):
        parser.add_argument("--orders", type=int, default=500)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--json", action="store_true", help="(the output is always one JSON object)")
        parser.add_argument("--keep", action="store_true")
        parser.add_argument("--timeout", type=float, default=1500.0)
        parser.add_argument("--worker-tenant", type=int, help="internal: run as a worker for this tenant")

    def handle(self, *args, **options):
        if not settings.SANDBOX_ENABLED:
            raise CommandError("chaos_sync needs the sandbox (SANDBOX_ENABLED).")
        if options["worker_tenant"]:
            self.stdout.write(json.dumps(worker_run(options["worker_tenant"], options["timeout"])))
            return
        started = time.monotonic()
        seed, orders = options["seed"], options["orders"]
        world = world_build(orders=orders, customers=max(1, orders * 2 // 5), seed=seed, label="chaos")
        magento_account = world.store_code
        try:
            for system, account in (("xero", world.tenant_id), ("magento", magento_account)):
                fault_profile_set(
                    system=system,
                    account=account,
                    error_rate=0.10,
                    throttle_rate=0.05,
                    drop_rate=0.02,
                    seed=seed,
                    rate_limits_enabled=False,
                )
            worker = self._spawn(world.tenant.pk, options["timeout"])
            self._kill_mid_run(worker, world)
            # One short outage of Xero while nobody is draining, then a second worker takes over.
            fault_profile_set(
                system="xero", account=world.tenant_id, outage_until=timezone.now() + timedelta(seconds=3)
            )
            second = self._spawn(world.tenant.pk, options["timeout"])
            out, err = second.communicate(timeout=options["timeout"])
            if second.returncode != 0:
                raise CommandError(f"the second worker failed:\n{err[-3000:]}")
            finished = json.loads(out.strip().splitlines()[-1])
            result = self._result(world, orders, finished, time.monotonic() - started)
        finally:
            if not options["keep"]:
                world_remove(world)
        self.stdout.write(json.dumps(result))

    def _spawn(self, tenant_pk: int, timeout: float) -> subprocess.Popen:
        command = [
            sys.executable,
            str(settings.BASE_DIR / "manage.py"),
            "chaos_sync",
            "--worker-tenant",
            str(tenant_pk),
            "--timeout",
            str(timeout),
        ]
        return subprocess.Popen(  # noqa: S603 - runs this same command, no outside input
            command, env={**os.environ, **CHAOS_ENV}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    def _kill_mid_run(self, worker: subprocess.Popen, world) -> None:
        """SIGKILL the worker once about 30% of the invoices are in Xero (or after 120 s), as a crashed qcluster."""
        from sync.models import SyncJob
        from tenants.scoping import tenant_scope

        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and worker.poll() is None:
            with tenant_scope(world.tenant):
                invoices = SyncJob.objects.filter(entity="invoice")
                total, done = invoices.count(), invoices.filter(state=SyncJob.State.DONE).count()
            if total and done >= max(1, total * 3 // 10):
                break
            time.sleep(0.05)
        if worker.poll() is None:
            worker.send_signal(signal.SIGKILL)
        worker.wait()

    def _result(self, world, orders: int, finished: dict, seconds: float) -> dict:
        from sandbox.magento.models import Order as NativeOrder
        from sandbox.xero.models import Invoice
        from sync.models import SyncJob
        from tenants.scoping import tenant_scope

        counts = xero_counts(world)
        expected = {
            str(o.increment_id)
            for o in NativeOrder.objects.filter(store__code=world.store_code).exclude(state="canceled")
        }
        in_xero = set(
            Invoice.objects.filter(org__tenant_id=world.tenant_id, type="ACCREC")
            .exclude(status__in=["DELETED", "VOIDED"])
            .values_list("reference", flat=True)
        )
        faults = FaultProfile.objects.filter(account__in=[world.tenant_id, world.store_code]).aggregate(
            n=Sum("faults_injected")
        )["n"]
        with tenant_scope(world.tenant):
            held = (
                SyncJob.objects.filter(state__in=[SyncJob.State.NEEDS_ATTENTION, SyncJob.State.DEAD])
                .values_list("state", "operation", "cause")
                .annotate(n=Count("id"))
                .values_list("state", "operation", "cause", "n")
            )
            # Why each held job is held, as operators see them grouped: a run's figures say what happened, not only
            # how much. Causes alike in their first 200 characters count together.
            causes: dict[str, int] = {}
            dead = attention = 0
            for state, operation, cause, n in held:
                key = f"{state} {operation}: {cause[:200]}"
                causes[key] = causes.get(key, 0) + n
                if state == SyncJob.State.DEAD:
                    dead += n
                else:
                    attention += n
        return {
            "orders": orders,
            "invoices_in_xero": counts["invoices_in_xero"],
            "duplicate_invoices": counts["duplicate_invoices"],
            "missing_invoices": len(expected - in_xero),
            "duplicate_contacts": counts["duplicate_contacts"],
            "dead_letters": dead,
            "needs_attention": attention,
            "held_by_cause": causes,
            "faults_injected": faults or 0,
            "worker_killed": True,
            "second_worker": finished,
            "seconds": round(seconds, 1),
        }


def worker_run(tenant_pk: int, timeout: float) -> dict:
    """What a qcluster does for one tenant, in a loop until nothing is left: poll, process, sweep, drain."""
    from connections.models import Connection
    from connections.providers.xero.tokens import xero_client_for
    from core.errors import ApplicationError
    from sandbox.transport import SandboxTransport
    from sync.models import InboundEvent, SyncJob
    from sync.services.drain import drain_run
    from sync.services.polling import source_poll
    from sync.services.processing import inbound_events_process_pending
    from sync.services.sweeper import sweep
    from tenants.models import Tenant
    from tenants.scoping import tenant_scope

    scale = settings.SYNC_BACKOFF_SCALE
    transport = SandboxTransport()
    tenant = Tenant.objects.get(pk=tenant_pk)
    deadline = time.monotonic() + timeout
    rounds = 0

    def client_factory(connection, transport):
        return xero_client_for(
            connection, transport=transport, rate_limiter=False, sleep=lambda s: time.sleep(s * scale)
        )

    with tenant_scope(tenant):
        xero = Connection.objects.get(provider="xero")
        source = Connection.objects.get(provider="magento")
        polled = False
        while time.monotonic() < deadline:
            rounds += 1
            if not polled:
                try:
                    source_poll(connection=source, transport=transport)
                    polled = True
                except ApplicationError:
                    time.sleep(0.2)
                    continue
            inbound_events_process_pending(transport=transport)
            sweep()
            drain_run(xero_connection=xero, transport=transport, client_factory=client_factory, time_budget=60)
            open_jobs = SyncJob.objects.filter(state__in=[SyncJob.State.PENDING, SyncJob.State.RUNNING]).exists()
            waiting = InboundEvent.objects.filter(status=InboundEvent.Status.RECEIVED).exists()
            if polled and not open_jobs and not waiting:
                break
            time.sleep(0.1)
        return {"rounds": rounds, "finished": time.monotonic() < deadline}
