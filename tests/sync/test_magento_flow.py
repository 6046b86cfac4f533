"""Magento customers and orders through the whole engine into Xero: poll, process, stage, map, drain.

Every invoice in Xero equals its Magento order's grand total to the cent, for a tax-inclusive and a tax-exclusive
store, in two tenants that never see each other's records.
"""

from decimal import Decimal

import pytest

from connections.providers.xero.reference import xero_reference_refresh
from mappings.suggestions import suggestions_accept, suggestions_refresh
from sandbox.magento.generator import generate
from sandbox.magento.models import Order as NativeOrder
from sandbox.magento.services import store_create
from sandbox.transport import SandboxTransport
from sandbox.xero.models import Contact as XeroContact
from sandbox.xero.models import Invoice as XeroInvoice
from sync.models import CrossReference, InboundEvent, SyncJob
from sync.services.drain import drain_run
from sync.services.polling import source_poll
from sync.services.processing import inbound_events_process_pending
from tenants.scoping import tenant_scope
from tests.sandbox_world import magento_connection_for, xero_client, xero_connection_for

pytestmark = pytest.mark.django_db
TRANSPORT = SandboxTransport()


def _tenant_with_magento(tenant, *, country, currency, inclusive, code, orders=40, customers=15):
    with tenant_scope(tenant):
        xero, org = xero_connection_for(tenant, name=f"Org {code}", country=country)
        xero_reference_refresh(connection=xero, client=xero_client(xero))
        store = store_create(code=code, currency=currency, tax_inclusive=inclusive)
        generate(
            account=code,
            seed=21,
            customers=customers,
            orders=orders,
            tax_inclusive=inclusive,
            currency=currency,
            foreign_currencies=("USD", "EUR", "GBP", "AUD"),
            foreign_share=0.2,
        )
        source = magento_connection_for(tenant, store)
        return xero, org, source


def _sync(tenant, xero, source) -> dict:
    with tenant_scope(tenant):
        polled = source_poll(connection=source, transport=TRANSPORT)
        processed = inbound_events_process_pending(transport=TRANSPORT)
        report = drain_run(xero_connection=xero, transport=TRANSPORT)
        return {"polled": polled, "processed": processed, "report": report}


@pytest.mark.parametrize("country,currency,inclusive", [("AU", "AUD", True), ("GB", "GBP", False)])
def test_magento_orders_become_exact_invoices(world, country, currency, inclusive):
    mine = world.tenant_a1
    xero, org, source = _tenant_with_magento(
        mine, country=country, currency=currency, inclusive=inclusive, code=f"flow{country.lower()}"
    )
    other_xero, other_org, other_source = _tenant_with_magento(
        world.tenant_b1, country="AU", currency="AUD", inclusive=False, code="flowother", orders=5
    )
    with tenant_scope(mine):
        # The first pass stages everything; nothing is mapped yet, so the drain holds what it cannot send.
        first = _sync(mine, xero, source)
        assert first["processed"].get("processed", 0) > 40
        assert SyncJob.objects.filter(state=SyncJob.State.NEEDS_ATTENTION).exists()
        causes = set(SyncJob.objects.filter(state="needs_attention").values_list("cause", flat=True))
        assert any("not mapped" in cause for cause in causes), causes

        # An admin accepts the suggestions; held jobs are released by themselves and go through.
        suggestions_accept(suggestions=suggestions_refresh(source_connection=source), actor="owner-a@example.com")
        from sync.services.operations import needs_attention_recheck

        assert needs_attention_recheck(xero_connection=xero) > 0
        report = drain_run(xero_connection=xero, transport=TRANSPORT)
        assert report.needs_attention == 0, set(
            SyncJob.objects.filter(state="needs_attention").values_list("cause", flat=True)
        )
        assert not SyncJob.objects.exclude(state__in=["done", "discarded"]).exists()

        natives = {
            str(n.entity_id): n.as_dict() for n in NativeOrder.objects.filter(store__code=source.display_name[5:])
        }
        open_orders = {k: v for k, v in natives.items() if v["state"] != "canceled"}
        invoices = {x.source_id: x.xero_id for x in CrossReference.objects.filter(entity="invoice")}
        assert set(invoices) == set(open_orders)

    in_xero = {str(i.id): i for i in XeroInvoice.objects.filter(org__tenant_id=org["tenant_id"], type="ACCREC")}
    for order_id, invoice_id in invoices.items():
        invoice = in_xero[invoice_id]
        assert invoice.total == Decimal(str(open_orders[order_id]["grand_total"])).quantize(Decimal("0.01")), order_id
        assert invoice.reference == open_orders[order_id]["increment_id"]
    # One Xero contact per customer (guests by email), never a duplicate.
    numbers = list(
        XeroContact.objects.filter(org__tenant_id=org["tenant_id"])
        .exclude(contact_number="")
        .values_list("contact_number", flat=True)
    )
    assert len(numbers) == len(set(numbers))

    with tenant_scope(mine):
        # Polling again finds nothing new and stages nothing.
        again = _sync(mine, xero, source)
        assert again["polled"]["staged"] == 0
        assert InboundEvent.objects.filter(status="received").count() == 0
    with tenant_scope(world.tenant_b1):
        assert not SyncJob.objects.exists()  # the other tenant was never touched
    assert not XeroInvoice.objects.filter(org__tenant_id=other_org["tenant_id"]).exists()
