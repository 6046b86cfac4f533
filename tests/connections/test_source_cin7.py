"""The Cin7 Core source adapter against the Cin7 simulator: two tenants, two accounts, every adapter method."""

import json
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest

from connections.canonical import Contact, Order, Payment, Product, Refund, StockLevel
from connections.checks import connection_test
from connections.models import Connection
from connections.services import connection_create
from connections.sources import source_adapter
from core.errors import ApplicationError, NotFoundError, RequestError
from sandbox.cin7.generator import generate
from sandbox.cin7.models import Cin7Record
from sandbox.cin7.services import account_ensure
from sandbox.faults import fault_profile_set
from sandbox.transport import SandboxTransport
from tenants.scoping import tenant_scope

API = "http://testserver/sandbox/cin7/ExternalApi/v2"


def cin7_connection(tenant, account, *, key=None, account_id=None, api_url=API) -> Connection:
    with tenant_scope(tenant):
        return connection_create(
            tenant=tenant,
            provider_id="cin7",
            display_name=f"Cin7 {account.name}",
            credentials={"application_key": key or account.application_key},
            account={"account_id": account_id or account.account_id, "api_url": api_url},
        )


@pytest.fixture
def accounts(world):
    """Tenant A1 and tenant B1 each on their own Cin7 account, with 24 and 12 generated sales."""
    out = {}
    for key, tenant, seed, orders in (("a", world.tenant_a1, 3, 24), ("b", world.tenant_b1, 12, 12)):
        account = account_ensure(name=f"src-c7-{key}")
        generate(account=account.account_id, seed=seed, customers=10, orders=orders)
        out[key] = (tenant, account, cin7_connection(tenant, account))
    return out


def adapter_for(connection):
    return source_adapter(connection, transport=SandboxTransport())


def sale_ids(account) -> set[str]:
    return {
        json.loads(body)["ID"]
        for body in Cin7Record.objects.filter(account=account, kind=Cin7Record.Kind.SALE).values_list("body", flat=True)
    }


# Test connection --------------------------------------------------------------------------------------------------


def test_a_working_account_names_the_company(accounts):
    tenant, account, connection = accounts["a"]
    with tenant_scope(tenant):
        result = connection_test(connection=connection, transport=SandboxTransport())
        connection.refresh_from_db()
    assert result.ok and result.message == "Connected to Cin7 Core: src-c7-a (base currency AUD)."
    assert connection.last_activity_at is not None


@pytest.mark.parametrize("wrong", ["key", "account"])
def test_a_wrong_key_or_account_id_is_named_without_the_key(world, accounts, wrong):
    tenant, account, _ = accounts["a"]
    bad_key = "9b2f4c1e-0000-4000-8000-00000000beef"
    if wrong == "key":
        connection = cin7_connection(world.tenant_a2, account, key=bad_key)
    else:
        connection = cin7_connection(world.tenant_a2, account, account_id="11111111-2222-4333-8444-555555555555")
    with tenant_scope(world.tenant_a2):
        result = connection_test(connection=connection, transport=SandboxTransport())
    assert not result.ok
    assert result.message.startswith("Cin7 Core refused the Account ID or the API application key")
    assert bad_key not in result.message and account.application_key not in result.message


def test_an_address_that_is_not_cin7_is_called_out(world, accounts):
    _, account, _ = accounts["a"]
    connection = cin7_connection(world.tenant_a2, account, api_url="http://testserver/sandbox/magento/rest/x/V1")
    with tenant_scope(world.tenant_a2):
        result = connection_test(connection=connection, transport=SandboxTransport())
    assert result == type(result)(False, "testserver doesn't answer like Cin7 Core's API: check the API address.")


def test_an_unreachable_host_is_named(world, accounts):
    _, account, _ = accounts["a"]
    connection = cin7_connection(world.tenant_a2, account, api_url="https://cin7.invalid/ExternalApi/v2")

    def refuse(request):
        raise httpx.ConnectError("no route to host", request=request)

    with tenant_scope(world.tenant_a2):
        result = connection_test(connection=connection, transport=httpx.MockTransport(refuse))
    assert result.message == "Could not reach cin7.invalid: check the address and that the server is online."


# Reads ------------------------------------------------------------------------------------------------------------


def test_each_tenant_reads_only_its_own_sales_oldest_first_and_they_add_up(accounts):
    for key in ("a", "b"):
        tenant, account, connection = accounts[key]
        with tenant_scope(tenant), adapter_for(connection) as adapter:
            rows = list(adapter.changed("order", since=None))
            orders = [adapter.normalize("order", native) for _, _, native in rows]
        assert {source_id for source_id, _, _ in rows} == sale_ids(account)
        stamps = [updated for _, updated, _ in rows]
        assert stamps == sorted(stamps) and all(s.tzinfo is not None for s in stamps)
        assert all(isinstance(o, Order) and o.unexplained_difference() == 0 for o in orders)
    assert not sale_ids(accounts["a"][1]) & sale_ids(accounts["b"][1])


def test_since_leaves_older_sales_out(accounts):
    tenant, _, connection = accounts["a"]
    with tenant_scope(tenant), adapter_for(connection) as adapter:
        everything = list(adapter.changed("order", since=None))
        cut = everything[len(everything) // 2][1]
        later = list(adapter.changed("order", since=cut))
    assert {r[0] for r in later} == {r[0] for r in everything if r[1] >= cut} and len(later) < len(everything)


def test_customers_and_suppliers_are_contacts(accounts):
    tenant, account, connection = accounts["b"]
    with tenant_scope(tenant), adapter_for(connection) as adapter:
        contacts = [adapter.normalize("customer", n) for _, _, n in adapter.changed("customer", since=None)]
        supplier = next(c for c in contacts if c.is_supplier)
        assert adapter.normalize("customer", adapter.fetch("customer", supplier.source_id)) == supplier
        customer = next(c for c in contacts if c.is_customer)
        assert adapter.normalize("Customer/Updated", adapter.fetch("customer", customer.source_id)) == customer
    assert all(isinstance(c, Contact) for c in contacts)
    assert len(contacts) == 10 + 3


def test_payments_sum_to_what_each_invoice_says_was_paid(accounts):
    tenant, account, connection = accounts["a"]
    with tenant_scope(tenant), adapter_for(connection) as adapter:
        rows = list(adapter.changed("payment", since=None))
        payments = [adapter.normalize("payment", native) for _, _, native in rows]
        first = rows[0]
        assert adapter.fetch("payment", first[0]) == first[2]
    assert payments and all(isinstance(p, Payment) and p.source_id == r[0] for p, r in zip(payments, rows, strict=True))
    paid = {}
    for payment in payments:
        paid[payment.order_source_id] = paid.get(payment.order_source_id, Decimal(0)) + payment.amount
    for body in Cin7Record.objects.filter(account=account, kind=Cin7Record.Kind.SALE).values_list("body", flat=True):
        sale = json.loads(body)
        expected = sum((Decimal(str(i["Paid"])) for i in sale["Invoices"]), Decimal(0))
        assert paid.get(sale["ID"], Decimal(0)) == expected
        for payment in payments:
            if payment.order_source_id == sale["ID"]:
                assert payment.currency == sale["CustomerCurrency"]


def test_refunds_are_credit_notes_in_the_sales_tax_basis(accounts):
    found = 0
    for key in ("a", "b"):
        tenant, _, connection = accounts[key]
        with tenant_scope(tenant), adapter_for(connection) as adapter:
            for source_id, _, native in adapter.changed("refund", since=None):
                refund = adapter.normalize("refund", native)
                assert isinstance(refund, Refund) and refund.source_id == source_id
                inclusive = native["_context"]["TaxCalculation"] == "Inclusive"
                parts = sum((line.amount for line in refund.lines), Decimal(0)) + refund.shipping
                assert refund.total == parts + (0 if inclusive else Decimal(str(native["Tax"])))
                # The event for a credit note names only the sale: the latest credit note is fetched.
                event = {"SaleID": refund.order_source_id, "EventType": "Sale/CreditNoteAuthorised"}
                kind = "Sale/CreditNoteAuthorised"
                assert adapter.normalize(kind, adapter.fetch(kind, adapter.webhook_source_id(kind, event))) == refund
                found += 1
    assert found


def test_products_and_stock_levels(accounts):
    tenant, _, connection = accounts["a"]
    with tenant_scope(tenant), adapter_for(connection) as adapter:
        products = [adapter.normalize("product", n) for _, _, n in adapter.changed("product", since=None)]
        assert adapter.normalize("product", adapter.fetch("product", products[0].source_id)) == products[0]
        stock = list(adapter.changed("stock", since=None))
    assert products and all(isinstance(p, Product) and p.tax_key.percent == 10 for p in products)
    for source_id, updated_at, native in stock:
        level = adapter.normalize("stock", native)
        assert isinstance(level, StockLevel) and source_id == f"{level.sku}@{level.location}" and updated_at is None


def test_fetch_of_a_missing_sale_is_not_found(accounts):
    tenant, _, connection = accounts["a"]
    foreign = next(iter(sale_ids(accounts["b"][1])))
    with tenant_scope(tenant), adapter_for(connection) as adapter, pytest.raises(NotFoundError):
        adapter.fetch("order", foreign)


def test_webhook_events_name_what_to_fetch(accounts):
    tenant, _, connection = accounts["a"]
    with tenant_scope(tenant), adapter_for(connection) as adapter:
        assert adapter.webhook_entity("Sale/OrderAuthorised") == "order"
        assert adapter.webhook_entity("Sale/FullPaymentReceived") == "payment"
        assert adapter.webhook_source_id("Sale/OrderAuthorised", {"SaleID": "S-1"}) == "S-1"
        stock_event = {"ProductID": "P", "SKU": "MUG-1", "Location": "Main Warehouse", "Available": "12"}
        assert adapter.webhook_source_id("Stock/AvailableStockLevelChanged", stock_event) == "MUG-1@Main Warehouse"
        with pytest.raises(ApplicationError) as caught:
            adapter.webhook_source_id("Customer/Updated", {"Name": "no id"})
        assert caught.value.code == "webhook_without_id"


# Write-backs ------------------------------------------------------------------------------------------------------


def _unpaid_invoiced_sale(account) -> dict:
    for body in Cin7Record.objects.filter(account=account, kind=Cin7Record.Kind.SALE).values_list("body", flat=True):
        sale = json.loads(body)
        invoices = sale["Invoices"]
        if invoices and invoices[0]["Status"] == "AUTHORISED" and Decimal(str(invoices[0]["Total"])) > 0:
            return sale
    raise AssertionError("no unpaid invoice generated")


def test_marking_a_sale_paid_posts_one_payment_per_reference(accounts):
    tenant, account, connection = accounts["a"]
    sale = _unpaid_invoiced_sale(account)
    invoice = sale["Invoices"][0]
    due = Decimal(str(invoice["Total"])) - Decimal(str(invoice["Paid"]))
    paid_at = datetime(2026, 2, 3, 4, 5, tzinfo=UTC)
    with tenant_scope(tenant), adapter_for(connection) as adapter:
        adapter.order_mark_paid(sale["ID"], amount=due, paid_at=paid_at, reference="XERO-77")
        adapter.order_mark_paid(sale["ID"], amount=due, paid_at=paid_at, reference="XERO-77")
        after = adapter.fetch("order", sale["ID"])
        with pytest.raises(ApplicationError) as unsupported:
            adapter.order_add_comment(sale["ID"], comment="hello")
    payments = [p for p in after["Invoices"][0]["Payments"] if p["Reference"] == "XERO-77"]
    assert len(payments) == 1 and Decimal(str(payments[0]["Amount"])) == due
    assert after["Invoices"][0]["Status"] == "PAID" and payments[0]["DatePaid"].startswith("2026-02-03")
    assert unsupported.value.code == "not_supported"


def test_an_overpayment_is_refused_in_cin7s_words(accounts):
    tenant, account, connection = accounts["a"]
    sale = _unpaid_invoiced_sale(account)
    with tenant_scope(tenant), adapter_for(connection) as adapter, pytest.raises(RequestError) as caught:
        adapter.order_mark_paid(sale["ID"], amount=Decimal("999999"), paid_at=datetime.now(UTC), reference="BIG")
    assert "more than the amount due" in caught.value.message


def test_the_sandbox_minute_limit_is_respected_by_a_long_read(accounts):
    # The simulator's own 60 calls/minute stays on: 12 full sales, their payments and refunds fit in one minute.
    tenant, account, connection = accounts["b"]
    fault_profile_set(system="cin7", account=account.account_id, rate_limits_enabled=True)
    with tenant_scope(tenant), adapter_for(connection) as adapter:
        assert len(list(adapter.changed("order", since=None))) == 12
