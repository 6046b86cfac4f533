"""The Magento source adapter against the Magento simulator: two tenants, two stores, every adapter method."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest

from connections.canonical import Order, Payment, Product, Refund, StockLevel
from connections.checks import connection_test
from connections.providers.magento import adapter as adapter_module
from connections.sources import source_adapter
from core.errors import ApplicationError, NotFoundError
from sandbox.magento.generator import generate
from sandbox.magento.models import Invoice, StockItem
from sandbox.magento.models import Order as NativeOrder
from sandbox.magento.services import store_create
from sandbox.transport import SandboxTransport
from tenants.scoping import tenant_scope
from tests.sandbox_world import magento_connection_for as magento_connection

END = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def shops(world):
    """Tenant A1 on a tax-exclusive USD store (30 orders), tenant B1 on a tax-inclusive AUD store (24 orders)."""
    a = store_create(code="src-mag-a", currency="USD")
    b = store_create(code="src-mag-b", currency="AUD", tax_inclusive=True)
    generate(account="src-mag-a", seed=3, customers=8, orders=30, end=END, days=40)
    generate(account="src-mag-b", seed=4, customers=8, orders=24, end=END, days=40)
    return {
        "a": (world.tenant_a1, a, magento_connection(world.tenant_a1, a)),
        "b": (world.tenant_b1, b, magento_connection(world.tenant_b1, b)),
    }


def adapter_for(connection, **kwargs):
    return source_adapter(connection, transport=SandboxTransport(), **kwargs)


def adds_up(refund, memo: dict, *, inclusive: bool) -> bool:
    """refund.total from its parts in the order's tax basis (exclusive parts leave the tax out)."""
    parts = sum((line.amount for line in refund.lines), Decimal(0)) + refund.shipping + refund.adjustment - refund.fee
    if not inclusive:
        parts += sum((line.tax for line in refund.lines), Decimal(0)) + Decimal(str(memo["shipping_tax_amount"]))
    return refund.total == parts


# Test connection --------------------------------------------------------------------------------------------------


def test_a_working_store_says_so_and_restarts_the_idle_clock(shops):
    tenant, store, connection = shops["a"]
    with tenant_scope(tenant):
        result = connection_test(connection=connection, transport=SandboxTransport())
        connection.refresh_from_db()
    assert result.ok and "src-mag-a" in result.message and "30 orders" in result.message
    assert connection.last_activity_at is not None


def test_a_wrong_token_is_named_as_such_without_the_token(shops):
    tenant, store, _ = shops["a"]
    connection = magento_connection(tenant, store, token="not-the-token-zz99", store_code="src-mag-a_v2")
    with tenant_scope(tenant):
        result = connection_test(connection=connection, transport=SandboxTransport())
        connection.refresh_from_db()
    assert not result.ok
    assert result.message.startswith("Magento refused the access token: check it in System › Integrations")
    assert "not-the-token-zz99" not in result.message
    assert connection.last_activity_at is None


def test_a_wrong_store_code_lists_the_codes_the_store_has(shops):
    tenant, store, _ = shops["a"]
    connection = magento_connection(tenant, store, store_code="nosuchview")
    with tenant_scope(tenant):
        result = connection_test(connection=connection, transport=SandboxTransport())
    assert not result.ok
    assert "has no store view 'nosuchview'" in result.message
    assert "src-mag-a, src-mag-a_v2" in result.message


@pytest.mark.parametrize("url", ["http://testserver/sandbox/cin7", "http://testserver/nothing-here"])
def test_a_url_that_is_not_a_magento_store_is_called_out(shops, url):
    tenant, store, _ = shops["a"]
    connection = magento_connection(tenant, store, store_url=url)
    with tenant_scope(tenant):
        result = connection_test(connection=connection, transport=SandboxTransport())
    assert not result.ok
    assert result.message == "testserver doesn't answer like a Magento store: check the URL."


def test_an_unreachable_host_is_named(shops):
    tenant, store, _ = shops["a"]
    connection = magento_connection(tenant, store, store_url="https://shop.invalid")

    def refuse(request):
        raise httpx.ConnectError("connection refused", request=request)

    with tenant_scope(tenant):
        result = connection_test(connection=connection, transport=httpx.MockTransport(refuse))
    assert not result.ok
    assert result.message == "Could not reach shop.invalid: check the address and that the server is online."


def test_a_login_page_answering_401_is_not_mistaken_for_a_refused_token(shops):
    tenant, store, _ = shops["a"]
    connection = magento_connection(tenant, store, store_url="https://proxy.example.com")
    transport = httpx.MockTransport(lambda request: httpx.Response(401, text="<html>Please sign in</html>"))
    with tenant_scope(tenant):
        result = connection_test(connection=connection, transport=transport)
    assert result.message == "proxy.example.com doesn't answer like a Magento store: check the URL."


# Reads ------------------------------------------------------------------------------------------------------------


def test_orders_come_oldest_first_from_the_tenants_own_store_only(shops):
    for key, count in (("a", 30), ("b", 24)):
        tenant, store, connection = shops[key]
        native_ids = set(
            NativeOrder.objects.filter(store__code=store["store_code"]).values_list("entity_id", flat=True)
        )
        with tenant_scope(tenant), adapter_for(connection) as adapter:
            rows = list(adapter.changed("order", since=None))
            ids = [int(source_id) for source_id, _, _ in rows]
            assert set(ids) == native_ids and len(ids) == count
            stamps = [updated for _, updated, _ in rows]
            assert stamps == sorted(stamps) and all(s.tzinfo is not None for s in stamps)
            for source_id, _, native in rows:
                order = adapter.normalize("order", native)
                assert isinstance(order, Order) and order.source_id == source_id
                assert order.unexplained_difference() == 0, order.number
                assert order.tax_inclusive is (key == "b") or not order.discount_total


def test_since_is_inclusive_and_leaves_older_records_out(shops):
    tenant, _, connection = shops["a"]
    with tenant_scope(tenant), adapter_for(connection) as adapter:
        everything = list(adapter.changed("order", since=None))
        cut = everything[len(everything) // 2][1]
        later = list(adapter.changed("order", since=cut))
    assert later and all(updated >= cut for _, updated, _ in later)
    assert {row[0] for row in later} == {row[0] for row in everything if row[1] >= cut}
    assert len(later) < len(everything)


def test_the_inclusive_store_is_read_inclusive_even_for_orders_without_a_discount(shops):
    tenant, _, connection = shops["b"]
    with tenant_scope(tenant), adapter_for(connection) as adapter:
        orders = [adapter.normalize("order", native) for _, _, native in adapter.changed("order", since=None)]
    assert any(not o.discount_total for o in orders)
    assert all(o.tax_inclusive for o in orders)


def test_an_adapter_reads_the_stores_tax_basis_once(shops, monkeypatch):
    tenant, _, connection = shops["b"]
    asked = []
    with tenant_scope(tenant), adapter_for(connection) as adapter:
        natives = [native for _, _, native in adapter.changed("order", since=None)]
        read = adapter_module.cache.get
        monkeypatch.setattr(adapter_module.cache, "get", lambda key: asked.append(key) or read(key))
        assert all(adapter.normalize("order", native).tax_inclusive for native in natives)
    assert len(asked) == 1


def test_fetch_returns_the_record_changed_listed(shops):
    tenant, _, connection = shops["a"]
    with tenant_scope(tenant), adapter_for(connection) as adapter:
        for entity in ("customer", "order", "payment", "refund", "product"):
            source_id, _, listed = next(iter(adapter.changed(entity, since=None)))
            fetched = adapter.fetch(entity, source_id)
            assert fetched == listed, entity
            assert adapter.normalize(entity, fetched).source_id == source_id
        with pytest.raises(NotFoundError):
            adapter.fetch("order", "999999")
        with pytest.raises(NotFoundError):
            adapter.fetch("order", "../customers/1")


def test_another_tenants_store_records_are_not_reachable(shops):
    tenant_b, _, connection_b = shops["b"]
    store_a_only = NativeOrder.objects.filter(store__code="src-mag-a").order_by("-entity_id").first()
    b_ids = set(NativeOrder.objects.filter(store__code="src-mag-b").values_list("entity_id", flat=True))
    assert store_a_only.entity_id not in b_ids
    with tenant_scope(tenant_b), adapter_for(connection_b) as adapter, pytest.raises(NotFoundError):
        adapter.fetch("order", str(store_a_only.entity_id))


def test_payments_are_paid_invoices_with_the_orders_payment_method(shops):
    tenant, store, connection = shops["a"]
    with tenant_scope(tenant), adapter_for(connection) as adapter:
        payments = [adapter.normalize("payment", native) for _, _, native in adapter.changed("payment", since=None)]
        orders = {
            o.source_id: o for o in (adapter.normalize("order", n) for _, _, n in adapter.changed("order", since=None))
        }
    invoices = Invoice.objects.filter(store__code="src-mag-a", state=2).count()
    assert len(payments) == invoices > 0
    for payment in payments:
        assert isinstance(payment, Payment) and payment.method == orders[payment.order_source_id].payment_method
        assert payment.currency == orders[payment.order_source_id].currency and payment.amount > 0
    paid = {}
    for payment in payments:
        paid[payment.order_source_id] = paid.get(payment.order_source_id, Decimal(0)) + payment.amount
    for native in NativeOrder.objects.filter(store__code="src-mag-a"):
        doc = native.as_dict()
        assert paid.get(str(doc["entity_id"]), Decimal(0)) == Decimal(str(doc.get("total_paid") or 0))


def test_payments_read_after_their_orders_are_read_as_alone(shops):
    for key in ("a", "b"):
        tenant, _, connection = shops[key]
        with tenant_scope(tenant), adapter_for(connection) as alone:
            expected = [alone.normalize("payment", native) for _, _, native in alone.changed("payment", since=None)]
            searches_alone = alone.client.calls
        with tenant_scope(tenant), adapter_for(connection) as reader:
            list(reader.changed("order", since=None))
            before = reader.client.calls
            payments = [reader.normalize("payment", native) for _, _, native in reader.changed("payment", since=None)]
            searches = reader.client.calls - before
        assert payments == expected and all(p.method for p in payments)
        # A page of invoices and one search for their orders' payment blocks: nothing is kept from the orders read
        # before, so what a poll holds does not grow with the store.
        assert (searches, searches_alone) == (2, 2)


def test_refunds_add_up_and_carry_the_orders_tax_codes(shops):
    seen = []
    for key in ("a", "b"):
        tenant, _, connection = shops[key]
        with tenant_scope(tenant), adapter_for(connection) as adapter:
            memos = [native for _, _, native in adapter.changed("refund", since=None)]
            refunds = [adapter.normalize("refund", native) for native in memos]
        assert refunds
        for refund, memo in zip(refunds, memos, strict=True):
            assert isinstance(refund, Refund)
            assert adds_up(refund, memo, inclusive=key == "b"), refund.number
            assert all(not line.tax_key.code.startswith("rate:") or line.tax == 0 for line in refund.lines)
        seen.extend(refunds)
    assert any(r.fee for r in seen)


@pytest.mark.django_db
@pytest.mark.parametrize("inclusive,currency", [(False, "USD"), (True, "AUD"), (False, "GBP")])
def test_every_generated_invoice_and_credit_memo_normalises_exactly(inclusive, currency):
    """Every paid invoice is its order's payment to the cent; every credit memo's parts add up to its total."""
    from connections.providers.magento.normalize import normalize_creditmemo, normalize_invoice_payment
    from sandbox.magento.models import CreditMemo

    account = f"memo-{currency.lower()}"
    generate(account=account, seed=21, customers=30, orders=150, tax_inclusive=inclusive, currency=currency)
    orders = {o.entity_id: o.as_dict() for o in NativeOrder.objects.filter(store__code=account)}
    paid = {}
    for invoice in Invoice.objects.filter(store__code=account):
        document = invoice.as_dict()
        order = orders[document["order_id"]]
        method = order["payment"]["method"]
        payment = normalize_invoice_payment({**document, "_context": {"payment_method": method}})
        assert payment.currency == order["order_currency_code"] and payment.method == method
        paid[payment.order_source_id] = paid.get(payment.order_source_id, Decimal(0)) + payment.amount
    for entity_id, order in orders.items():
        assert paid.get(str(entity_id), Decimal(0)) == Decimal(str(order.get("total_paid") or 0))
    refunds = []
    for memo in CreditMemo.objects.filter(store__code=account):
        document = memo.as_dict()
        context = {"_context": {"order": orders[document["order_id"]]}}
        refund = normalize_creditmemo({**document, **context}, prices_include_tax=inclusive)
        assert refund.total == Decimal(str(document["grand_total"]))
        assert adds_up(refund, document, inclusive=inclusive), refund.number
        # Without the order, the same amounts; tax keys fall back to the rates the rounded amounts imply.
        bare = normalize_creditmemo(document, prices_include_tax=inclusive)
        assert [line.amount for line in bare.lines] == [line.amount for line in refund.lines]
        for approximate, exact in zip(bare.lines, refund.lines, strict=True):
            assert abs(approximate.tax_key.percent - exact.tax_key.percent) < Decimal("0.5")
        refunds.append(refund)
    # Restocking fees, adjustment refunds and refunded shipping all occur, and still add up.
    assert any(r.fee for r in refunds) and any(r.adjustment for r in refunds) and any(r.shipping for r in refunds)


def test_products_and_stock_levels(shops):
    tenant, store, connection = shops["a"]
    with tenant_scope(tenant), adapter_for(connection) as adapter:
        products = [adapter.normalize("product", n) for _, _, n in adapter.changed("product", since=None)]
        levels = {s: adapter.normalize("stock", n) for s, _, n in adapter.changed("stock", since=None)}
        sku = next(iter(levels))
        assert adapter.normalize("stock", adapter.fetch("stock", sku)) == levels[sku]
    assert products and all(isinstance(p, Product) and p.source_id == p.sku for p in products)
    assert levels and all(isinstance(level, StockLevel) for level in levels.values())
    stock_rows = StockItem.objects.filter(store__code="src-mag-a").count()
    assert len(levels) == stock_rows


def test_webhook_events_name_the_record_to_fetch(shops):
    tenant, _, connection = shops["a"]
    order = NativeOrder.objects.filter(store__code="src-mag-a").order_by("pk").first().as_dict()
    invoice = Invoice.objects.filter(store__code="src-mag-a").order_by("pk").first().as_dict()
    module = {"eventName": "observer.sales_order_save_commit_after", "data": {"order": order}}
    io_event = {
        "type": "com.adobe.commerce.observer.sales_order_invoice_save_after",
        "data": {"key": "k", "value": {"entity_id": invoice["entity_id"], "order_id": invoice["order_id"]}},
    }
    with tenant_scope(tenant), adapter_for(connection) as adapter:
        kind = "observer.sales_order_save_commit_after"
        assert adapter.webhook_entity(kind) == "order"
        assert (
            adapter.normalize(kind, adapter.fetch(kind, adapter.webhook_source_id(kind, module))).number
            == (order["increment_id"])
        )
        kind = "observer.sales_order_invoice_save_after"
        payment = adapter.normalize(kind, adapter.fetch(kind, adapter.webhook_source_id(kind, io_event)))
        assert payment.source_id == str(invoice["entity_id"]) and payment.method
        with pytest.raises(ApplicationError) as caught:
            adapter.webhook_source_id(kind, {"data": {}})
        assert caught.value.code == "webhook_without_id"
        assert adapter.webhook_entity("observer.catalog_product_save_after") is None


def test_an_entity_the_source_does_not_have_is_refused(shops):
    tenant, _, connection = shops["a"]
    with tenant_scope(tenant), adapter_for(connection) as adapter, pytest.raises(ApplicationError) as caught:
        list(adapter.changed("invoice", since=None))
    assert caught.value.code == "not_supported"


# Write-backs ------------------------------------------------------------------------------------------------------


def _order_in(store_code: str, state: str) -> dict:
    return next(o.as_dict() for o in NativeOrder.objects.filter(store__code=store_code, state=state).order_by("pk"))


def test_marking_an_order_paid_invoices_it_once(shops):
    tenant, _, connection = shops["a"]
    order = _order_in("src-mag-a", "new")
    due = Decimal(str(order["grand_total"]))
    paid_at = END + timedelta(days=1)
    with tenant_scope(tenant), adapter_for(connection) as adapter:
        adapter.order_mark_paid(str(order["entity_id"]), amount=due, paid_at=paid_at, reference="XERO-PAY-1")
        adapter.order_mark_paid(str(order["entity_id"]), amount=due, paid_at=paid_at, reference="XERO-PAY-1")
        after = adapter.fetch("order", str(order["entity_id"]))
    invoices = [i.as_dict() for i in Invoice.objects.filter(store__code="src-mag-a", order_id=order["entity_id"])]
    assert len(invoices) == 1 and Decimal(str(invoices[0]["grand_total"])) == due
    assert "XERO-PAY-1" in invoices[0]["comments"][0]["comment"]
    assert after["state"] == "processing" and Decimal(str(after["total_paid"])) == due


def test_a_part_payment_is_noted_on_the_order_without_invoicing(shops):
    tenant, _, connection = shops["a"]
    order = _order_in("src-mag-a", "new")
    with tenant_scope(tenant), adapter_for(connection) as adapter:
        adapter.order_mark_paid(str(order["entity_id"]), amount=Decimal("1.00"), paid_at=END, reference="PART-7")
        after = adapter.fetch("order", str(order["entity_id"]))
    assert not Invoice.objects.filter(store__code="src-mag-a", order_id=order["entity_id"]).exists()
    assert (
        "Part payment" in after["status_histories"][0]["comment"]
        and "PART-7" in after["status_histories"][0]["comment"]
    )


def test_a_comment_can_complete_a_complete_state_order(shops):
    tenant, _, connection = shops["a"]
    order = _order_in("src-mag-a", "processing")
    with tenant_scope(tenant), adapter_for(connection) as adapter:
        adapter.order_add_comment(str(order["entity_id"]), comment="Invoice INV-0042 created in Xero.")
        after = adapter.fetch("order", str(order["entity_id"]))
    assert after["status_histories"][0]["comment"] == "Invoice INV-0042 created in Xero."
    assert after["status"] == "processing"


def test_stock_set_changes_the_stock_item(shops):
    tenant, _, connection = shops["a"]
    with tenant_scope(tenant), adapter_for(connection) as adapter:
        sku = next(iter(adapter.changed("stock", since=None)))[0]
        adapter.stock_set(sku, Decimal("7"))
        level = adapter.normalize("stock", adapter.fetch("stock", sku))
        adapter.stock_set(sku, 0)
        empty = adapter.fetch("stock", sku)
    assert level.quantity == 7
    assert Decimal(str(empty["qty"])) == 0 and empty["is_in_stock"] is False


def test_xero_and_partner_connections_have_no_source_adapter(world, connect):
    connection = connect(world.tenant_a1, "rest")
    with pytest.raises(ApplicationError) as caught:
        source_adapter(connection)
    assert caught.value.code == "no_source_adapter"
