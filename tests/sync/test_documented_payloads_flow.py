"""Every documented example payload (research/payloads/) loaded with `sandbox_load`, then synced, arrives in Xero
with the source's own totals, or is held as needs attention when the example's own numbers don't add up.

The examples are the vendors' documentation, unchanged. xero_webhook_examples.json is Xero's side (its webhooks are
covered by tests/sync/test_webhooks_xero.py), so it is not a source here.
"""

import json
from decimal import Decimal
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command

from sandbox.cin7.services import account_ensure as cin7_account
from sandbox.faults import fault_profile_set
from sandbox.gorgias.services import account_ensure as gorgias_account
from sandbox.magento.services import store_create
from sync.models import CrossReference, SyncJob
from tenants.scoping import tenant_scope
from tests.connections.test_source_cin7 import cin7_connection
from tests.connections.test_source_gorgias import gorgias_connection
from tests.sandbox_world import magento_connection_for
from tests.sync.flow_helpers import drain_until_idle, map_everything, poll_and_process, xero_for, xero_read

pytestmark = pytest.mark.django_db
PAYLOADS = settings.SHARED_DIR / "research" / "payloads"
CENT = Decimal("0.01")


def _example(name: str):
    return json.loads((PAYLOADS / name).read_text())


def _load(system: str, account: str, name: str) -> None:
    call_command("sandbox_load", system, account, str(PAYLOADS / name), stdout=StringIO())


def _source(tenant, name: str):
    """The sandbox account an example goes into, the example loaded with `sandbox_load`, and its connection."""
    if name.startswith("magento"):
        store = store_create(code="docs")
        _load("magento", "docs", name)
        return magento_connection_for(tenant, store)
    if name.startswith("cin7"):
        account = cin7_account(name="Docs Cin7")
        fault_profile_set(system="cin7", account=account.account_id, rate_limits_enabled=False)
        _load("cin7", "Docs Cin7", name)
        return cin7_connection(tenant, account)
    account = gorgias_account(domain="docs-helpdesk")
    _load("gorgias", "docs-helpdesk", name)
    return gorgias_connection(tenant, account)


def _sync(tenant, name):
    with tenant_scope(tenant):
        xero, _ = xero_for(tenant, name=f"Org {tenant.pk}")
        source = _source(tenant, name)
        poll_and_process(source)
        map_everything(source, xero)
        drain_until_idle(xero)
        jobs = list(SyncJob.objects.all())
        xrefs = {(x.entity, x.source_id): x.xero_id for x in CrossReference.objects.all()}
    return xero, jobs, xrefs


def test_the_magento_order_example_is_held_because_its_own_numbers_do_not_add_up(world):
    order = _example("magento_order.json")
    xero, jobs, xrefs = _sync(world.tenant_a1, "magento_order.json")
    [held] = [j for j in jobs if j.entity == "invoice"]
    # The documentation elides six of the seven items: the header says 165, the one item left does not.
    assert held.state == SyncJob.State.NEEDS_ATTENTION and held.error_code == "order_totals_inconsistent"
    assert f"totals {Decimal(str(order['grand_total'])).quantize(CENT)}" in held.cause
    assert not xero_read(xero, "Invoices")
    # Its customer is a contact all the same.
    contact = next(c for c in xero_read(xero, "Contacts") if c["ContactID"] in xrefs.values())
    assert contact["EmailAddress"] == order["customer_email"]
    with tenant_scope(world.tenant_b1):
        assert not SyncJob.objects.exists()


def test_the_magento_customer_example_is_a_contact(world):
    customer = _example("magento_customer.json")
    xero, jobs, xrefs = _sync(world.tenant_a1, "magento_customer.json")
    assert {j.state for j in jobs} == {SyncJob.State.DONE}
    contact = next(c for c in xero_read(xero, "Contacts") if c["ContactID"] == xrefs[("contact", str(customer["id"]))])
    assert contact["EmailAddress"] == customer["email"]
    assert (contact["FirstName"], contact["LastName"]) == (customer["firstname"], customer["lastname"])


def test_the_gorgias_customer_example_is_a_contact_with_its_shop_orders(world):
    customer = _example("gorgias_customer.json")["customer"]
    xero, jobs, xrefs = _sync(world.tenant_a1, "gorgias_customer.json")
    held = [j.cause for j in jobs if j.state != SyncJob.State.DONE]
    assert not held, held
    contact = next(c for c in xero_read(xero, "Contacts") if c["ContactID"] == xrefs[("contact", str(customer["id"]))])
    assert contact["EmailAddress"] == customer["email"]
    invoices = {i["InvoiceID"]: i for i in xero_read(xero, "Invoices")}
    orders = [o for data in (customer.get("integrations") or {}).values() for o in (data or {}).get("orders") or []]
    for order in orders:
        invoice = invoices[xrefs[("invoice", f"{customer['id']}:{order['id']}")]]
        assert invoice["Total"] == Decimal(str(order["total_price"])).quantize(CENT)
    assert len(invoices) == len(orders)


def test_the_cin7_lists_example_reaches_xero_as_far_as_it_goes(world):
    lists = _example("cin7_core_lists.json")
    xero, jobs, xrefs = _sync(world.tenant_a1, "cin7_core_lists.json")
    contacts = {c["ContactID"]: c for c in xero_read(xero, "Contacts")}
    for customer in lists["GET /customer"]["CustomerList"]:
        assert contacts[xrefs[("contact", customer["ID"])]]["Name"] == customer["Name"]
    items = {i["Code"]: i for i in xero_read(xero, "Items")}
    for product in lists["POST /product (response)"]["Products"]:
        assert items[product["SKU"][:30]]["Name"] == product["Name"][:50]
    # The lists hold sale headers and payments, not the full sales (GET /sale): no invoice can be built from them,
    # and nothing is invented. Payments wait for invoices that never come; nothing else is held.
    assert not xero_read(xero, "Invoices")
    waiting = {j.entity for j in jobs if j.state not in (SyncJob.State.DONE, SyncJob.State.DISCARDED)}
    assert waiting <= {"payment"}, [(j.entity, j.cause) for j in jobs if j.state != SyncJob.State.DONE]
