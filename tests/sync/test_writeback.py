"""Invoice payment status from Xero back to the source, end to end against the simulators.

Magento order → invoice in Xero (the whole engine) → someone records a payment (or voids) in Xero → Xero's signed
INVOICE webhook → processing reads the invoices in one batch → write-back → the Magento order has the comment and
its status; Cin7 sales get the payment. Money the source told us about never comes back to it.
"""

from decimal import Decimal

import pytest

from connections.providers.xero import accounting
from connections.services import connection_create
from sandbox.cin7.generator import generate as cin7_generate
from sandbox.cin7.services import account_ensure
from sandbox.magento.generator import generate as magento_generate
from sandbox.magento.models import Order as NativeOrder
from sandbox.magento.services import store_create
from sandbox.transport import sandbox_client
from sandbox.xero.models import XeroApp
from sandbox.xero.services.webhooks import webhook_intent_to_receive, webhooks_deliver
from sync.models import CrossReference, InboundEvent, WriteBack, WriteBackAttempt
from sync.services.invoice_status import xero_invoices_poll
from sync.services.processing import inbound_events_process_pending
from sync.services.write_backs import write_backs_run
from tenants.scoping import tenant_scope
from tests.connections.test_source_cin7 import cin7_connection
from tests.sandbox_world import magento_connection_for, xero_client
from tests.sync.flow_helpers import TRANSPORT, drain_until_idle, map_everything, poll_and_process, xero_for

pytestmark = pytest.mark.django_db
CENT = Decimal("0.01")


class Tenant:
    """A tenant whose Magento (or Cin7) orders are in its sandbox Xero, with Xero's webhooks pointed at us."""

    def __init__(self, tenant, *, code: str, source="magento", orders=16, seed=5, settings=None):
        self.tenant, self.code = tenant, code
        with tenant_scope(tenant):
            self.xero, self.org = xero_for(tenant, name=f"Org {code}")
            self.app = XeroApp.objects.get(client_id=self.org["client_id"])
            if settings is not None:
                self.listen(settings)
            if source == "magento":
                store = store_create(code=code, currency="AUD", tax_inclusive=True)
                magento_generate(account=code, seed=seed, customers=6, orders=orders, currency="AUD")
                self.source = magento_connection_for(tenant, store)
            elif source == "cin7":
                account = account_ensure(name=code)
                cin7_generate(account=account.account_id, seed=seed, customers=6, orders=orders)
                self.source = cin7_connection(tenant, account)
            else:  # a partner system: it pushes its orders to our API
                self.source = connection_create(tenant=tenant, provider_id="rest", display_name=f"CRM {code}")
                self.invoices = {}
                return
            poll_and_process(self.source)
        self.sync()

    def sync(self):
        """Process what arrived, map everything (day one), drain into Xero; remember the invoices."""
        with tenant_scope(self.tenant):
            inbound_events_process_pending(transport=TRANSPORT)
            map_everything(self.source, self.xero)
            drain_until_idle(self.xero)
            self.invoices = {x.source_id: x.xero_id for x in CrossReference.objects.filter(entity="invoice")}

    def listen(self, settings):
        """Point the Xero app's webhook at this tenant's connection (Xero checks the URL first)."""
        self.app.webhook_url = f"http://testserver/webhooks/xero/{self.xero.webhook_token}/"
        self.app.save(update_fields=["webhook_url"])
        settings.XERO_WEBHOOK_KEY = self.org["webhook_key"]
        with sandbox_client() as xero_side:
            assert webhook_intent_to_receive(app=self.app, client=xero_side) is True

    def xero_invoice(self, order_id: str) -> dict:
        with tenant_scope(self.tenant), xero_client(self.xero) as client:
            return accounting.invoices_get(client, [self.invoices[order_id]])[0]

    def pay_in_xero(self, order_id: str, amount: Decimal) -> dict:
        """What the tenant's bookkeeper does in Xero: record a bank payment against the invoice."""
        body = {"Invoice": {"InvoiceID": self.invoices[order_id]}, "Account": {"Code": "090"}, "Amount": amount}
        with tenant_scope(self.tenant), xero_client(self.xero) as client:
            client.put("Payments", json_body={"Payments": [{**body, "Date": "2026-11-20"}]})
        return self.xero_invoice(order_id)

    def void_in_xero(self, order_id: str) -> None:
        with tenant_scope(self.tenant), xero_client(self.xero) as client:
            invoice_id = self.invoices[order_id]
            client.post(
                f"Invoices/{invoice_id}", json_body={"Invoices": [{"InvoiceID": invoice_id, "Status": "VOIDED"}]}
            )

    def deliver_and_process(self) -> dict:
        """Xero delivers its queued webhooks to us; we process the inbox and send the write-backs."""
        with sandbox_client() as xero_side:
            webhooks_deliver(client=xero_side, app=self.app)
        with tenant_scope(self.tenant):
            processed = inbound_events_process_pending(transport=TRANSPORT)
            sent = write_backs_run(connection=self.source, transport=TRANSPORT)
        return {"processed": processed, "sent": sent}

    def write_backs(self, **filters) -> list[WriteBack]:
        with tenant_scope(self.tenant):
            return list(WriteBack.objects.filter(**filters).order_by("id"))


def _native(code: str, order_id: str) -> dict:
    return NativeOrder.objects.get(store__code=code, entity_id=int(order_id)).as_dict()


def _unpaid_orders(world_tenant: Tenant) -> list[str]:
    """Orders invoiced in Xero that Magento has no payment for (bank transfer, cheque: paid later)."""
    return sorted(
        (oid for oid in world_tenant.invoices if Decimal(str(_native(world_tenant.code, oid)["total_paid"] or 0)) == 0),
        key=int,
    )


def _ship(code: str, order_id: str) -> None:
    """The merchant ships the goods in Magento before the money arrives (the order waits in processing)."""
    row = NativeOrder.objects.get(store__code=code, entity_id=int(order_id))
    order = row.as_dict()
    for item in order["items"]:
        item["qty_shipped"] = item["qty_ordered"]
    order["state"], order["status"] = "processing", "processing"
    from sandbox.magento.records import record_update

    record_update(row, order)


def test_paid_part_paid_and_voided_in_xero_reach_the_magento_orders(world, settings):
    shop = Tenant(world.tenant_a1, code="wbshop", orders=30, settings=settings)
    other = Tenant(world.tenant_b1, code="wbother", orders=12, seed=9)
    # Xero's events for the invoices and payments the engine itself wrote come back first: no write-back.
    first = shop.deliver_and_process()
    assert first["processed"].get("processed", 0) > 0
    assert shop.write_backs() == []

    paid, part, voided = _unpaid_orders(shop)[:3]
    _ship(shop.code, paid)
    due = Decimal(str(shop.xero_invoice(paid)["AmountDue"]))
    assert shop.pay_in_xero(paid, due)["Status"] == "PAID"
    half = (Decimal(str(shop.xero_invoice(part)["Total"])) / 2).quantize(CENT)
    assert shop.pay_in_xero(part, half)["Status"] == "AUTHORISED"
    shop.void_in_xero(voided)

    outcome = shop.deliver_and_process()
    assert outcome["sent"] == {"done": 3}
    by_order = {wb.source_id: wb for wb in shop.write_backs()}
    assert {k: v.event for k, v in by_order.items()} == {
        paid: "invoice.paid",
        part: "invoice.part_paid",
        voided: "invoice.voided",
    }

    order = _native(shop.code, paid)
    assert (order["state"], order["status"]) == ("complete", "complete")
    assert Decimal(str(order["total_paid"])) == Decimal(str(order["grand_total"]))
    assert any("is paid in full" in h["comment"] for h in order["status_histories"])

    order = _native(shop.code, part)
    assert Decimal(str(order["total_paid"] or 0)) == 0  # Magento invoices only what is paid in full
    assert any(f"Part payment: Paid AUD {half}" in h["comment"] for h in order["status_histories"])

    order = _native(shop.code, voided)
    assert any("was voided" in h["comment"] for h in order["status_histories"])

    # Xero tells us again (a redelivery, the polling safety net): nothing is written twice.
    with tenant_scope(shop.tenant):
        assert xero_invoices_poll(xero_connection=shop.xero, transport=TRANSPORT)["staged"] == 0
        assert write_backs_run(connection=shop.source, transport=TRANSPORT) == {}
    assert len(shop.write_backs()) == 3

    # The other tenant's orders and write-backs were never touched.
    assert other.write_backs() == []
    for order_id in other.invoices:
        assert not any("Xero invoice" in h["comment"] for h in _native(other.code, order_id)["status_histories"])

    # The other tenant's payment goes through the same app URL to its own connection and its own store only.
    theirs = _unpaid_orders(other)[0]
    other.pay_in_xero(theirs, Decimal(str(other.xero_invoice(theirs)["AmountDue"])))
    assert shop.deliver_and_process()["sent"] == {}
    assert len(shop.write_backs()) == 3
    assert other.deliver_and_process()["sent"] == {"done": 1}
    assert [wb.source_id for wb in other.write_backs()] == [theirs]
    assert any("is paid in full" in h["comment"] for h in _native(other.code, theirs)["status_histories"])


def test_the_rest_of_a_part_paid_invoice_completes_the_order_once(world, settings):
    shop = Tenant(world.tenant_a1, code="wbpart", settings=settings)
    shop.deliver_and_process()
    order_id = _unpaid_orders(shop)[0]
    total = Decimal(str(shop.xero_invoice(order_id)["Total"]))
    first = (total / 3).quantize(CENT)
    shop.pay_in_xero(order_id, first)
    shop.deliver_and_process()
    shop.pay_in_xero(order_id, total - first)
    shop.deliver_and_process()

    part, paid = shop.write_backs(source_id=order_id)
    assert (part.event, Decimal(part.data["amount"])) == ("invoice.part_paid", first)
    # The second write-back carries only the money the source has not been told about yet.
    assert (paid.event, Decimal(paid.data["amount"])) == ("invoice.paid", total - first)
    order = _native(shop.code, order_id)
    assert Decimal(str(order["total_paid"])) == Decimal(str(order["grand_total"]))
    assert order["state"] == "processing"  # paid, not shipped yet: Magento keeps it processing


def test_missed_webhooks_are_caught_by_polling(world, settings):
    shop = Tenant(world.tenant_a1, code="wbpoll")
    # Nobody listens: Xero's webhooks never reach us.
    order_id = _unpaid_orders(shop)[0]
    with tenant_scope(shop.tenant):
        assert xero_invoices_poll(xero_connection=shop.xero, transport=TRANSPORT)["staged"] == 0
    shop.pay_in_xero(order_id, Decimal(str(shop.xero_invoice(order_id)["AmountDue"])))
    with tenant_scope(shop.tenant):
        polled = xero_invoices_poll(xero_connection=shop.xero, transport=TRANSPORT)
        assert polled["staged"] == 1
        assert write_backs_run(connection=shop.source, transport=TRANSPORT) == {"done": 1}
        assert not InboundEvent.objects.filter(connection=shop.xero).exists()
    order = _native(shop.code, order_id)
    assert Decimal(str(order["total_paid"])) == Decimal(str(order["grand_total"]))


def test_a_magento_outage_is_retried_and_logged(world, settings):
    from sandbox.faults import fault_profile_set

    shop = Tenant(world.tenant_a1, code="wbdown", settings=settings)
    shop.deliver_and_process()
    order_id = _unpaid_orders(shop)[0]
    shop.pay_in_xero(order_id, Decimal(str(shop.xero_invoice(order_id)["AmountDue"])))
    fault_profile_set(system="magento", account="wbdown", error_rate=1.0)
    assert shop.deliver_and_process()["sent"] == {"pending": 1}
    (write_back,) = shop.write_backs()
    assert write_back.error_code and "retrying automatically" in write_back.cause
    fault_profile_set(system="magento", account="wbdown", error_rate=0.0)
    with tenant_scope(shop.tenant):
        WriteBack.objects.update(next_attempt_at=write_back.created_at)
        assert write_backs_run(connection=shop.source, transport=TRANSPORT) == {"done": 1}
        log = list(WriteBackAttempt.objects.filter(write_back=write_back).values_list("ok", flat=True))
    assert log == [False, True]


def test_cin7_sales_get_the_payment_made_in_xero(world, settings):
    shop = Tenant(world.tenant_a1, code="wbcin7", source="cin7", orders=16, seed=3, settings=settings)
    shop.deliver_and_process()
    assert shop.write_backs() == []  # Cin7's own payments came back as events: no echo

    from sandbox.cin7.models import Cin7Record

    def sale(sale_id):
        import json

        return json.loads(Cin7Record.objects.get(kind=Cin7Record.Kind.SALE, key=sale_id.lower()).body)

    def cin7_paid(sale_id) -> Decimal:
        return sum(
            (Decimal(str(p["Amount"])) for i in sale(sale_id).get("Invoices") or [] for p in i.get("Payments") or []),
            Decimal(0),
        )

    def invoice_status(sale_id) -> str:
        return next((i.get("Status") for i in sale(sale_id).get("Invoices") or []), "")

    unpaid = sorted(
        sid for sid in shop.invoices if cin7_paid(sid) == 0 and shop.xero_invoice(sid)["Status"] == "AUTHORISED"
    )
    sale_id = next(sid for sid in unpaid if invoice_status(sid) == "AUTHORISED")
    due = Decimal(str(shop.xero_invoice(sale_id)["AmountDue"]))
    shop.pay_in_xero(sale_id, due)
    assert shop.deliver_and_process()["sent"] == {"done": 1}
    assert cin7_paid(sale_id) == due
    (payment,) = [p for i in sale(sale_id)["Invoices"] for p in i["Payments"]]
    assert payment["Reference"].startswith(f"Xero {shop.xero_invoice(sale_id)['InvoiceNumber']}")

    # A sale Cin7 has not invoiced yet cannot take a payment: a dead letter with Cin7's reason, not a crash.
    not_invoiced = next(
        sid
        for sid in unpaid
        if invoice_status(sid) != "AUTHORISED" and shop.xero_invoice(sid)["Status"] == "AUTHORISED"
    )
    shop.pay_in_xero(not_invoiced, Decimal(str(shop.xero_invoice(not_invoiced)["AmountDue"])))
    assert shop.deliver_and_process()["sent"] == {"dead": 1}
    (dead,) = shop.write_backs(source_id=not_invoiced)
    assert "no authorised invoice" in dead.cause

    # Cin7's payment then comes back to us as a Cin7 change; it is not sent to Xero again.
    with tenant_scope(shop.tenant):
        poll_and_process(shop.source)
        drain_until_idle(shop.xero)
    assert Decimal(str(shop.xero_invoice(sale_id)["AmountPaid"])) == due


def test_a_partner_order_paid_in_xero_reaches_the_partner_as_a_signed_webhook(world, settings, api):
    from sandbox.partner.services import partner_deliveries
    from sync.services.partner_webhooks import partner_webhook_endpoint_set
    from tenants import services as tenant_services
    from tests.sync.test_ingest import ORDER
    from tests.sync.webhook_helpers import partner_signature_verify

    shop = Tenant(world.tenant_a1, code="wbcrm", source="rest", settings=settings)
    with tenant_scope(shop.tenant):
        _, secret = partner_webhook_endpoint_set(
            connection=shop.source, url="http://testserver/sandbox/partner/crm-e2e/hooks", events=["invoice.paid"]
        )
    _, key = tenant_services.api_key_create(agency=world.agency_a, name="crm")
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert api.post(f"/api/v1/tenants/{shop.tenant.pk}/ingest/orders/", ORDER, format="json").status_code == 202
    shop.sync()
    assert list(shop.invoices) == ["SO-5001"]
    shop.deliver_and_process()  # the invoice's creation: nothing to tell the partner
    assert partner_deliveries(name="crm-e2e") == []

    shop.pay_in_xero("SO-5001", Decimal("38.50"))
    assert shop.deliver_and_process()["sent"] == {"done": 1}
    (delivery,) = partner_deliveries(name="crm-e2e")
    body = partner_signature_verify(delivery, secret)
    assert body["event"] == "invoice.paid"
    assert body["data"]["order_id"] == "SO-5001" and body["data"]["status"] == "PAID"
    assert (body["data"]["amount_paid"], body["data"]["amount_due"], body["data"]["amount"]) == (
        "38.50",
        "0.00",
        "38.50",
    )
