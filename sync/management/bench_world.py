"""A fresh sandbox world for benchmarks and chaos runs: a tenant with a Xero organisation and a Magento store.

Tooling, like the tests: it builds the external world through the sandbox's own services, then the product
reaches it only through its clients over an in-process HTTP transport.
"""

import resource
import uuid
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Sum

from connections.models import Connection, ConnectionDailyUsage
from connections.providers.xero.reference import xero_reference_refresh
from connections.providers.xero.tokens import xero_client_for
from connections.services import connection_create
from core.management.processes import children, cpu_seconds_of, proc_stat, ticks_to_seconds
from mappings.services import source_values_observe
from mappings.suggestions import suggestions_accept, suggestions_refresh
from sandbox.faults import fault_profile_set
from sandbox.magento.generator import generate
from sandbox.magento.services import store_create
from sandbox.transport import SandboxTransport
from sandbox.xero.services.orgs import organisation_create
from tenants import services as tenant_services
from tenants.models import Tenant, User
from tenants.scoping import tenant_scope

SANDBOX_HOST = "http://testserver"
ENABLED_CURRENCIES = ("USD", "EUR", "GBP", "AUD")


@dataclass
class BenchWorld:
    tenant: Tenant
    xero: Connection
    source: Connection
    tenant_id: str  # the Xero organisation's tenantId
    store_code: str


def peak_rss_mb() -> float:
    """This process's peak resident set size, in MB.

    Linux's VmHWM, not getrusage's ru_maxrss: ru_maxrss survives exec, so a child started by a large parent (the
    world builder) reports the parent's peak, which is how 464 MB "at 5,000 orders" was measured once.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def cpu_seconds() -> float:
    """User and system CPU time of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def db_cpu_seconds() -> float | None:
    """CPU time of this process's PostgreSQL backend so far (its main connection's), when the server runs on this
    machine (else None): the database's share of the path's cost, which the process's own CPU time does not show."""
    backend = _backend_pid()
    return cpu_seconds_of([backend]).get(backend) if backend is not None else None


def db_server_cpu_seconds() -> float | None:
    """CPU time of the whole PostgreSQL server so far, when it runs on this machine (else None): the postmaster and
    every process it started, those that have exited included (their time is added to the postmaster's when it reaps
    them). A run whose workers open and close connections (the drain's sending thread has its own) is measured whole
    this way, with the server's own upkeep (WAL writer, checkpointer) and, on a shared machine, others' queries."""
    backend = _backend_pid()
    if backend is None:
        return None
    try:
        postmaster = int(proc_stat(backend)[1])
        # utime, stime, cutime and cstime of the postmaster, then the processes it runs now.
        own = ticks_to_seconds(sum(int(x) for x in proc_stat(postmaster)[11:15]))
    except OSError:
        return None
    return own + sum(cpu_seconds_of(children(postmaster)).values())


def _backend_pid() -> int | None:
    """The process id of this connection's PostgreSQL backend (None on another database)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def statistics_refresh() -> None:
    """Bring the tables to the state autovacuum would leave them in once a world settles (it is off on this server).

    A benchmark world is bulk-loaded moments before the measured run, and earlier runs leave dead rows behind: with
    statistics from before the load the planner takes a 50,000-row table for a few dozen rows (and sorts it in full
    for every page), and without a visibility map no index can answer a page's ids on its own.
    """
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE" if connection.get_autocommit() else "ANALYZE")


def world_build(*, orders: int, customers: int, seed: int = 1, label: str = "bench") -> BenchWorld:
    """Create the world and map it by accepting every suggestion (as an admin would on day one)."""
    from connections.providers.magento.normalize import normalize_order
    from sandbox.magento.models import Order as NativeOrder

    run = f"{label}-{uuid.uuid4().hex[:8]}"
    owner = User.objects.create_user(email=f"{run}@bench.ledgerbridge.local", password=None)
    agency = tenant_services.agency_create_with_owner(name=f"Bench {run}", owner=owner)
    tenant = tenant_services.tenant_create(
        agency=agency, actor="bench", name=f"Bench {run}", country="AU", base_currency="AUD"
    )
    org = organisation_create(name=f"Bench {run}", country="AU")
    fault_profile_set(system="xero", account=org["tenant_id"], rate_limits_enabled=False)
    store = store_create(code=run, currency="AUD")
    generate(
        account=run,
        seed=seed,
        customers=customers,
        orders=orders,
        currency="AUD",
        foreign_currencies=ENABLED_CURRENCIES,
        foreign_share=0.1,
    )
    with tenant_scope(tenant):
        xero = connection_create(
            tenant=tenant,
            provider_id="xero",
            display_name=org["tenant_name"],
            credentials={
                "access_token": org["access_token"],
                "refresh_token": org["refresh_token"],
                "expires_at": str(10**10),
            },
        )
        Connection.objects.filter(pk=xero.pk).update(
            external_account_id=org["tenant_id"],
            base_url=f"{SANDBOX_HOST}/sandbox/xero/api.xro/2.0",
            status=Connection.Status.ACTIVE,
        )
        xero.refresh_from_db()
        source = connection_create(
            tenant=tenant,
            provider_id="magento",
            display_name=f"Shop {run}",
            credentials={"access_token": store["access_token"]},
            account={"store_url": f"{SANDBOX_HOST}/sandbox/magento", "store_code": run},
        )
        client = xero_client_for(xero, transport=SandboxTransport(), rate_limiter=False)
        xero_reference_refresh(connection=xero, client=client)
        with transaction.atomic():
            # Day-one mapping: what a sample of recent orders uses, then every suggestion accepted.
            sample = NativeOrder.objects.filter(store__code=run).order_by("-entity_id")[:300]
            for native in sample:
                source_values_observe(source_connection=source, order=normalize_order(native.as_dict()))
            suggestions_accept(suggestions=suggestions_refresh(source_connection=source), actor="bench")
    return BenchWorld(tenant=tenant, xero=xero, source=source, tenant_id=org["tenant_id"], store_code=run)


def xero_calls(world: BenchWorld) -> int:
    """Calls made to the Xero connection (the per-connection daily counters the engine keeps)."""
    with tenant_scope(world.tenant):
        return ConnectionDailyUsage.objects.filter(connection=world.xero).aggregate(total=Sum("calls"))["total"] or 0


def xero_counts(world: BenchWorld) -> dict:
    from sandbox.xero.models import Contact, Invoice

    invoices = Invoice.objects.filter(org__tenant_id=world.tenant_id, type="ACCREC").exclude(status="DELETED")
    numbers = list(invoices.values_list("invoice_number", flat=True))
    contacts = list(
        Contact.objects.filter(org__tenant_id=world.tenant_id)
        .exclude(contact_number="")
        .values_list("contact_number", flat=True)
    )
    return {
        "invoices_in_xero": len(numbers),
        "duplicate_invoices": len(numbers) - len(set(numbers)),
        "contacts_in_xero": len(contacts),
        "duplicate_contacts": len(contacts) - len(set(contacts)),
    }


def world_remove(world: BenchWorld) -> None:
    """Delete the benchmark's agency, tenant and everything they own. The simulated accounts stay in the sandbox
    (uniquely named per run), as an external world would."""
    agency = world.tenant.agency
    owners = list(User.objects.filter(memberships__agency=agency))
    with tenant_scope(world.tenant):
        agency.delete()
    for user in owners:
        user.delete()
