"""Shared steps of the end-to-end source flows: sync a tenant until idle, read back what Xero holds."""

from django.utils import timezone

from connections.providers.xero import accounting
from connections.providers.xero.reference import xero_reference_refresh
from connections.sources import source_adapter
from mappings.suggestions import suggestions_accept, suggestions_refresh
from sandbox.transport import SandboxTransport
from sync.models import SyncJob
from sync.services.drain import drain_run
from sync.services.operations import needs_attention_recheck
from sync.services.polling import source_poll
from sync.services.processing import inbound_events_process_pending
from tests.sandbox_world import xero_client, xero_connection_for

TRANSPORT = SandboxTransport()


def xero_for(tenant, *, name: str, country: str = "AU"):
    """A connected sandbox Xero organisation with its reference data (accounts, tax rates, currencies) fetched."""
    xero, org = xero_connection_for(tenant, name=name, country=country)
    xero_reference_refresh(connection=xero, client=xero_client(xero))
    return xero, org


def map_everything(source, xero) -> None:
    """What an admin does on day one: accept every mapping suggestion; held jobs are released."""
    suggestions_accept(suggestions=suggestions_refresh(source_connection=source), actor="owner@example.com")
    needs_attention_recheck(xero_connection=xero)


def poll_and_process(source) -> dict:
    """Poll every entity of a source (its client without our own limiter: one test, one worker) and stage it."""
    with source_adapter(source, transport=TRANSPORT, rate_limiter=False) as adapter:
        polled = source_poll(connection=source, adapter=adapter)
    return {"polled": polled, "processed": inbound_events_process_pending(transport=TRANSPORT)}


def drain_until_idle(xero, *, rounds: int = 8) -> list:
    """Drain, waking jobs told to wait for a dependency, until nothing is pending."""
    reports = []
    for _ in range(rounds):
        reports.append(drain_run(xero_connection=xero, transport=TRANSPORT))
        pending = SyncJob.objects.filter(xero_connection=xero, state=SyncJob.State.PENDING)
        if not pending.exists():
            break
        pending.update(next_attempt_at=timezone.now())
    return reports


def held_causes(xero) -> set[str]:
    return set(
        SyncJob.objects.filter(xero_connection=xero, state=SyncJob.State.NEEDS_ATTENTION).values_list(
            "cause", flat=True
        )
    )


def sync_until_idle(tenant, xero, source, *, poll: bool = True, held_allowed: bool = False) -> dict:
    """Bring the source's changes in (polled, or already pushed to the inbox), map, drain; no job may be held unless
    the test expects one (`held_allowed`).

    Returns what the tenant's cross-references now link: {(entity, source id): Xero id}.
    """
    from sync.models import CrossReference
    from tenants.scoping import tenant_scope

    with tenant_scope(tenant):
        if poll:
            poll_and_process(source)
        else:
            inbound_events_process_pending(transport=TRANSPORT)
        map_everything(source, xero)
        drain_until_idle(xero)
        assert held_allowed or not held_causes(xero), held_causes(xero)
        return {(x.entity, x.source_id): x.xero_id for x in CrossReference.objects.all()}


def xero_invoice(xero, xero_id: str) -> dict:
    """One invoice as Xero now holds it."""
    return next(i for i in xero_read(xero, "Invoices") if i["InvoiceID"] == xero_id)


def xero_read(xero, collection: str, **params) -> list[dict]:
    """Every record of a Xero collection, read back over the API (exact decimals, 4-dp unit amounts)."""
    paged = collection != "Items"
    if collection in ("Invoices", "CreditNotes", "Items"):
        params = {"unitdp": 4, **params}
    records, page = [], 1
    with xero_client(xero) as client:
        while True:
            query = {**params, "page": page, "pageSize": 1000} if paged else params
            batch = accounting.parse(client.get(collection, params=query)).get(collection) or []
            records += batch
            if not paged or len(batch) < 1000:
                return records
            page += 1
