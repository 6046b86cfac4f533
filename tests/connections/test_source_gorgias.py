"""The Gorgias source adapter against the Gorgias simulator: two tenants, two helpdesks, every adapter method."""

import json
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest

from connections.canonical import Contact, Order, Refund
from connections.checks import CheckResult, connection_test
from connections.models import Connection
from connections.services import connection_create
from connections.sources import source_adapter
from core.errors import ApplicationError, NotFoundError
from sandbox.gorgias.generator import generate
from sandbox.gorgias.models import GorgiasRecord
from sandbox.gorgias.services import account_ensure
from sandbox.transport import SandboxTransport
from tenants.scoping import tenant_scope

START = datetime(2025, 1, 6, tzinfo=UTC)


def gorgias_connection(tenant, account, *, email=None, key=None, domain=None) -> Connection:
    with tenant_scope(tenant):
        return connection_create(
            tenant=tenant,
            provider_id="gorgias",
            display_name=f"Helpdesk {account.domain}",
            credentials={"username": email or account.email, "api_key": key or account.api_key},
            account={"domain": f"http://testserver/sandbox/gorgias/{domain or account.domain}/api"},
        )


@pytest.fixture
def helpdesks(world):
    """Tenant A1 and tenant B1 on their own helpdesks, 12 customers and 20 shop orders each."""
    out = {}
    for key, tenant, seed in (("a", world.tenant_a1, 5), ("b", world.tenant_b1, 6)):
        account = account_ensure(domain=f"src-g-{key}")
        generate(account=account.domain, seed=seed, customers=12, orders=20, tickets=3, start=START)
        out[key] = (tenant, account, gorgias_connection(tenant, account))
    return out


def adapter_for(connection):
    return source_adapter(connection, transport=SandboxTransport())


def customers_of(account) -> list[dict]:
    rows = GorgiasRecord.objects.filter(account=account, kind=GorgiasRecord.Kind.CUSTOMER)
    return [json.loads(body) for body in rows.values_list("body", flat=True)]


def test_a_working_helpdesk_says_so(helpdesks):
    tenant, _, connection = helpdesks["a"]
    with tenant_scope(tenant):
        result = connection_test(connection=connection, transport=SandboxTransport())
        connection.refresh_from_db()
    assert result.ok and "src-g-a" in result.message and connection.last_activity_at is not None


def test_a_wrong_key_is_named_without_the_key(world, helpdesks):
    _, account, _ = helpdesks["a"]
    connection = gorgias_connection(world.tenant_a2, account, key="wrong-key-7f3a")
    with tenant_scope(world.tenant_a2):
        result = connection_test(connection=connection, transport=SandboxTransport())
    assert result == CheckResult(
        False, "Gorgias refused the account email and REST API key: check both in Settings › REST API."
    )
    assert "wrong-key-7f3a" not in result.message


def test_a_wrong_domain_is_named(world, helpdesks):
    _, account, _ = helpdesks["a"]
    connection = gorgias_connection(world.tenant_a2, account, domain="no-such-desk")
    with tenant_scope(world.tenant_a2):
        result = connection_test(connection=connection, transport=SandboxTransport())
    assert (
        not result.ok and result.message.startswith("Gorgias has no helpdesk at") and "no-such-desk" in result.message
    )


def test_an_unreachable_or_foreign_host(world, helpdesks):
    _, account, _ = helpdesks["a"]
    connection = gorgias_connection(world.tenant_a2, account)

    def refuse(request):
        raise httpx.ConnectError("refused", request=request)

    with tenant_scope(world.tenant_a2):
        down = connection_test(connection=connection, transport=httpx.MockTransport(refuse))
        html = connection_test(
            connection=connection, transport=httpx.MockTransport(lambda r: httpx.Response(200, text="<html></html>"))
        )
    assert down.message == "Could not reach testserver: check the address and that the server is online."
    assert html.message == "testserver doesn't answer like Gorgias: check the domain."


def test_each_tenant_reads_its_own_customers_oldest_first(helpdesks):
    for key in ("a", "b"):
        tenant, account, connection = helpdesks[key]
        with tenant_scope(tenant), adapter_for(connection) as adapter:
            rows = list(adapter.changed("customer", since=None))
            contacts = [adapter.normalize("customer", native) for _, _, native in rows]
        assert {r[0] for r in rows} == {str(c["id"]) for c in customers_of(account)}
        stamps = [r[1] for r in rows]
        assert stamps == sorted(stamps) and all(isinstance(c, Contact) and c.email for c in contacts)


def test_since_reads_only_customers_updated_since(helpdesks):
    tenant, _, connection = helpdesks["a"]
    with tenant_scope(tenant), adapter_for(connection) as adapter:
        everything = list(adapter.changed("customer", since=None))
        cut = everything[-4][1]
        later = list(adapter.changed("customer", since=cut))
    assert {r[0] for r in later} == {r[0] for r in everything if r[1] >= cut} and len(later) < len(everything)


def test_orders_and_refunds_from_the_customers_integrations(helpdesks):
    tenant, account, connection = helpdesks["a"]
    with tenant_scope(tenant), adapter_for(connection) as adapter:
        orders = {s: adapter.normalize("order", n) for s, _, n in adapter.changed("order", since=None)}
        refunds = {s: adapter.normalize("refund", n) for s, _, n in adapter.changed("refund", since=None)}
        some_order = next(iter(orders))
        assert adapter.normalize("order", adapter.fetch("order", some_order)) == orders[some_order]
        some_refund = next(iter(refunds))
        assert adapter.normalize("refund", adapter.fetch("refund", some_refund)) == refunds[some_refund]
        with pytest.raises(NotFoundError):
            adapter.fetch("order", f"{some_order.split(':')[0]}:1")
    assert len(orders) == 20 and all(isinstance(o, Order) and o.unexplained_difference() == 0 for o in orders.values())
    assert refunds and all(isinstance(r, Refund) and r.order_source_id in orders for r in refunds.values())
    for refund in refunds.values():
        assert refund.currency == orders[refund.order_source_id].currency and refund.total > Decimal(0)


def test_another_helpdesks_customer_is_not_found(helpdesks):
    tenant, _, connection = helpdesks["a"]
    foreign = customers_of(helpdesks["b"][1])[0]["id"]
    own = {c["id"] for c in customers_of(helpdesks["a"][1])}
    assert foreign not in own
    with tenant_scope(tenant), adapter_for(connection) as adapter, pytest.raises(NotFoundError):
        adapter.fetch("customer", str(foreign))


def test_a_ticket_event_is_about_its_customer(helpdesks):
    tenant, account, connection = helpdesks["a"]
    ticket = json.loads(
        GorgiasRecord.objects.filter(account=account, kind=GorgiasRecord.Kind.TICKET).values_list("body", flat=True)[0]
    )
    customer_id = str(ticket["customer"]["id"])
    with tenant_scope(tenant), adapter_for(connection) as adapter:
        assert adapter.webhook_entity("ticket-created") == "customer"
        assert adapter.webhook_source_id("ticket-created", {"event": "ticket-created", "ticket_id": ticket["id"]}) == (
            customer_id
        )
        by_email = {"event": "ticket-updated", "customer_email": ticket["customer"]["email"]}
        assert adapter.webhook_source_id("ticket-updated", by_email) == customer_id
        contact = adapter.normalize("ticket-created", adapter.fetch("ticket-created", customer_id))
        assert contact.source_id == customer_id
        with pytest.raises(ApplicationError) as caught:
            adapter.webhook_source_id("ticket-created", {"event": "ticket-created"})
        assert caught.value.code == "webhook_without_id"


def test_nothing_is_written_back_to_gorgias(helpdesks):
    tenant, _, connection = helpdesks["a"]
    with tenant_scope(tenant), adapter_for(connection) as adapter:
        for call in (
            lambda: adapter.order_mark_paid("1:2", amount=Decimal(1), paid_at=START, reference="R"),
            lambda: adapter.order_add_comment("1:2", comment="x"),
            lambda: adapter.stock_set("SKU", Decimal(1)),
            lambda: list(adapter.changed("product", since=None)),
        ):
            with pytest.raises(ApplicationError) as caught:
                call()
            assert caught.value.code == "not_supported"
