"""Helpers for mapping tests: a tenant connected to a sandbox Xero organisation and to generated source data."""

import json
from decimal import Decimal

import pytest

from connections.providers.magento.normalize import normalize_order
from connections.providers.xero.reference import xero_reference_refresh
from mappings.services import source_values_observe
from sandbox.magento.generator import generate
from sandbox.magento.models import Order as NativeOrder
from sandbox.magento.models import Store
from tests.factories import ConnectionFactory
from tests.sandbox_world import xero_client, xero_connection_for


def connect_xero(tenant, *, name: str, country: str):
    """A sandbox organisation connected to `tenant`, its settings fetched into the cache."""
    connection, org = xero_connection_for(tenant, name=name, country=country)
    xero_reference_refresh(connection=connection, client=xero_client(connection))
    return connection


def magento_source(tenant, *, account: str, currency: str, inclusive: bool, orders: int = 40, seed: int = 11):
    """A generated Magento store connected to `tenant`, its orders normalised and observed.

    Foreign order currencies are drawn from those every sandbox organisation enables.
    """
    generate(
        account=account,
        seed=seed,
        customers=12,
        orders=orders,
        tax_inclusive=inclusive,
        currency=currency,
        foreign_currencies=("USD", "EUR", "GBP", "AUD"),
        foreign_share=0.3,
    )
    store = Store.objects.get(code=account)
    connection = ConnectionFactory(tenant=tenant, provider="magento", display_name=account)
    canonical = [
        normalize_order(native.as_dict(), prices_include_tax=store.prices_include_tax)
        for native in NativeOrder.objects.filter(store=store).order_by("id")
    ]
    for order in canonical:
        source_values_observe(source_connection=connection, order=order)
    return connection, canonical


def post_to_xero(xero, collection: str, payload: dict, *, unitdp: bool = True) -> dict:
    """Send one element to the sandbox and return Xero's answer for it (Decimals exact)."""
    params = {"unitdp": "4"} if unitdp else None
    response = xero_client(xero).post(collection, params=params, json_body={collection: [payload]})
    return json.loads(response.content, parse_float=Decimal)[collection][0]


@pytest.fixture
def two_tenants(world):
    return world.tenant_a1, world.tenant_b1


def cin7_source(tenant, *, account: str, orders: int = 30, seed: int = 5):
    """A generated Cin7 Core account connected to `tenant`, its sales normalised and observed."""
    from connections.providers.cin7.normalize import normalize_sale, tax_rates
    from sandbox.cin7.generator import generate as cin7_generate
    from sandbox.cin7.models import Cin7Record
    from sandbox.cin7.services import account_ensure

    cin7 = account_ensure(name=account)
    cin7_generate(account=cin7.account_id, seed=seed, customers=10, orders=orders)

    def bodies(kind):
        rows = Cin7Record.objects.filter(account=cin7, kind=kind).order_by("id").values_list("body", flat=True)
        return [json.loads(body) if isinstance(body, str) else body for body in rows]

    rates = tax_rates(bodies(Cin7Record.Kind.TAX_RULE))
    connection = ConnectionFactory(tenant=tenant, provider="cin7", display_name=account)
    canonical = [normalize_sale(sale, rates=rates) for sale in bodies(Cin7Record.Kind.SALE)]
    for order in canonical:
        source_values_observe(source_connection=connection, order=order)
    return connection, canonical


def gorgias_source(tenant, *, domain: str, orders: int = 40, seed: int = 9):
    """A generated Gorgias helpdesk connected to `tenant`, the shop orders inside its customers normalised."""
    from connections.providers.gorgias.normalize import normalize_order
    from sandbox.gorgias.generator import generate as gorgias_generate
    from sandbox.gorgias.models import GorgiasRecord
    from sandbox.gorgias.services import account_ensure

    gorgias = account_ensure(domain=domain)
    gorgias_generate(account=gorgias.domain, seed=seed, customers=15, orders=orders)
    connection = ConnectionFactory(tenant=tenant, provider="gorgias", display_name=domain)
    canonical = []
    customers = GorgiasRecord.objects.filter(account=gorgias, kind=GorgiasRecord.Kind.CUSTOMER).order_by("id")
    for body in customers.values_list("body", flat=True):
        customer = json.loads(body) if isinstance(body, str) else body
        for integration_id, data in customer["integrations"].items():
            for native in data["orders"]:
                context = {
                    "customer": {k: customer[k] for k in ("id", "email", "name")},
                    "integration_id": integration_id,
                }
                canonical.append(normalize_order({**native, "_context": context}))
    for order in canonical:
        source_values_observe(source_connection=connection, order=order)
    return connection, canonical
