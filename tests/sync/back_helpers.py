"""Helpers for the flows from Xero back to sources: a tenant with a sandbox Xero org and a Magento store, a person
editing in Xero (through Xero's own API) and in Magento, and Xero's signed webhooks delivered to our URL."""

from dataclasses import dataclass

from connections.models import Connection
from mappings.models import ContactPolicy
from sandbox.magento import services as magento
from sandbox.magento.generator import generate
from sandbox.magento.models import Customer, Store
from sandbox.transport import SandboxTransport, sandbox_client
from sandbox.xero.models import XeroApp
from sandbox.xero.services.webhooks import webhook_intent_to_receive, webhooks_deliver
from sync.models import InboundEvent
from tenants.scoping import tenant_scope
from tests.sandbox_world import magento_connection_for, xero_client, xero_connection_for

TRANSPORT = SandboxTransport()


@dataclass
class Shop:
    """One tenant: its Xero connection (and sandbox org), its Magento connection and store code."""

    tenant: object
    xero: Connection
    org: dict
    magento: Connection
    store: str

    # In Xero, as a person would do it (through Xero's API) --------------------------------------------------

    def xero_contact_save(self, **fields) -> dict:
        """Create (or, with ContactID, update) a contact in Xero; returns Xero's answer."""
        with tenant_scope(self.tenant), xero_client(self.xero) as client:
            body = client.post("Contacts", json_body={"Contacts": [fields]}).json()
        return body["Contacts"][0]

    def xero_group(self, name: str, contact_ids: list[str]) -> str:
        with tenant_scope(self.tenant), xero_client(self.xero) as client:
            group = client.put("ContactGroups", json_body={"ContactGroups": [{"Name": name}]}).json()
            group_id = group["ContactGroups"][0]["ContactGroupID"]
            contacts = {"Contacts": [{"ContactID": contact_id} for contact_id in contact_ids]}
            client.put(f"ContactGroups/{group_id}/Contacts", json_body=contacts)
        return group_id

    def xero_contact(self, contact_id: str) -> dict:
        with tenant_scope(self.tenant), xero_client(self.xero) as client:
            return client.get(f"Contacts/{contact_id}").json()["Contacts"][0]

    # In Magento -----------------------------------------------------------------------------------------------

    def customers(self) -> dict[int, dict]:
        return {c.entity_id: c.as_dict() for c in Customer.objects.filter(store__code=self.store)}

    def customer_edit(self, customer_id: int, **fields) -> dict:
        """A person changes a customer in the Magento admin."""
        return magento.customer_save(store=Store.objects.get(code=self.store), data=fields, customer_id=customer_id)

    def policy(self, **fields) -> ContactPolicy:
        with tenant_scope(self.tenant):
            policy, _ = ContactPolicy.objects.update_or_create(
                tenant=self.tenant, source_connection=self.magento, defaults=fields
            )
        return policy

    # Xero's webhooks ------------------------------------------------------------------------------------------

    def xero_webhooks_on(self, settings) -> None:
        """Point Xero's webhook at our URL (it passes intent-to-receive); from now on Xero queues events for it."""
        app = XeroApp.objects.get(client_id=self.org["client_id"])
        settings.XERO_WEBHOOK_KEY = app.webhook_key
        app.webhook_url = f"http://testserver/webhooks/xero/{self.xero.webhook_token}/"
        app.save(update_fields=["webhook_url"])
        with sandbox_client() as xero_side:
            assert webhook_intent_to_receive(app=app, client=xero_side)

    def deliver_xero_webhooks(self, settings) -> list[dict]:
        """Xero sends what it has queued for this org, signed, to our URL; returns the events stored since."""
        app = XeroApp.objects.get(client_id=self.org["client_id"])
        settings.XERO_WEBHOOK_KEY = app.webhook_key
        with tenant_scope(self.tenant):
            seen = set(InboundEvent.objects.filter(connection=self.xero).values_list("pk", flat=True))
        with sandbox_client() as xero_side:
            webhooks_deliver(client=xero_side, app=app)
        with tenant_scope(self.tenant):
            new = InboundEvent.objects.filter(connection=self.xero).exclude(pk__in=seen).order_by("pk")
            return [event.body for event in new]


def shop(tenant, *, code: str, customers: int = 4, seed: int = 5) -> Shop:
    """A tenant with a sandbox Xero org and a Magento store with generated customers (no orders)."""
    with tenant_scope(tenant):
        xero, org = xero_connection_for(tenant, name=f"Org {code}", country="AU")
        store = magento.store_create(code=code, currency="AUD", tax_inclusive=True)
        generate(account=code, seed=seed, customers=customers, orders=0, currency="AUD")
        source = magento_connection_for(tenant, store)
    return Shop(tenant=tenant, xero=xero, org=org, magento=source, store=code)
