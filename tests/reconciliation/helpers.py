"""A tenant whose Magento store was synced to its Xero organisation by the real engine, ready to reconcile."""

from dataclasses import dataclass
from datetime import date, timedelta

from connections.providers.xero.reference import xero_reference_refresh
from mappings.suggestions import suggestions_accept, suggestions_refresh
from sandbox.magento.generator import generate
from sandbox.magento.services import store_create
from sandbox.transport import SandboxTransport
from sync.models import SyncJob
from sync.services.drain import drain_run
from sync.services.polling import source_poll
from sync.services.processing import inbound_events_process_pending
from tenants.scoping import tenant_scope
from tests.sandbox_world import magento_connection_for, xero_client, xero_connection_for

TRANSPORT = SandboxTransport()


@dataclass
class SyncedShop:
    tenant: object
    xero: object
    source: object
    org: dict
    store_code: str

    @property
    def tenant_id(self) -> str:
        return self.org["tenant_id"]


def synced_shop(tenant, *, code: str, orders: int = 30, customers: int = 12, seed: int = 5) -> SyncedShop:
    """Generate a store, map it by accepting every suggestion, then poll, process and drain until idle."""
    with tenant_scope(tenant):
        xero, org = xero_connection_for(tenant, name=f"Org {code}", country="AU")
        xero_reference_refresh(connection=xero, client=xero_client(xero))
        store = store_create(code=code, currency="AUD")
        generate(
            account=code,
            seed=seed,
            customers=customers,
            orders=orders,
            currency="AUD",
            foreign_currencies=("USD", "EUR", "GBP", "AUD"),
            foreign_share=0.2,
        )
        source = magento_connection_for(tenant, store)
        source_poll(connection=source, transport=TRANSPORT)
        inbound_events_process_pending(transport=TRANSPORT)
        suggestions_accept(suggestions=suggestions_refresh(source_connection=source), actor="test")
        from sync.services.operations import needs_attention_recheck

        needs_attention_recheck(xero_connection=xero)
        for _ in range(5):
            report = drain_run(xero_connection=xero, transport=TRANSPORT)
            if report.batches == 0 or not SyncJob.objects.filter(state=SyncJob.State.PENDING).exists():
                break
        return SyncedShop(tenant=tenant, xero=xero, source=source, org=org, store_code=code)


def whole_history() -> tuple[date, date]:
    """A period covering every generated order (the generator spreads them over the past months)."""
    today = date.today()
    return today - timedelta(days=800), today + timedelta(days=1)
