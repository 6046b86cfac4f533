"""Item prices: a product's price changed in the source and its item's price changed in Xero since the last sync.
The item-price group's system of record wins, else the later change; the item's other fields still flow, and every
settlement is in the audit trail. Two tenants, each with its own setting; neither sees the other's audit trail."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from connections.services import connection_create
from mappings.models import SystemOfRecord
from sync.models import AuditEntry
from sync.services.processing import inbound_events_process_pending
from tenants import services as tenant_services
from tenants.scoping import tenant_scope
from tests.sandbox_world import xero_client
from tests.sync.flow_helpers import TRANSPORT, drain_until_idle, held_causes, map_everything, xero_for, xero_read

pytestmark = pytest.mark.django_db

MUG = {"id": "P-1", "sku": "MUG-1", "name": "Stoneware mug", "price": "12.50", "cost": "4.1250"}


class Partner:
    """One tenant: a partner system pushing products through the ingest API, and its Xero organisation."""

    def __init__(self, tenant, agency, api, *, name: str, owner: str | None):
        self.tenant, self.api = tenant, api
        with tenant_scope(tenant):
            self.xero, _ = xero_for(tenant, name=f"Org {name}")
            self.source = connection_create(tenant=tenant, provider_id="rest", display_name=name)
            if owner:
                SystemOfRecord.objects.create(
                    tenant=tenant, source_connection=self.source, field_group="item_price", owner=owner
                )
        _, self.key = tenant_services.api_key_create(agency=agency, name=name)

    def push(self, **changes) -> None:
        self.api.credentials(HTTP_AUTHORIZATION=f"Bearer {self.key}")
        url = f"/api/v1/tenants/{self.tenant.pk}/ingest/products/"
        response = self.api.post(url, {"records": [{**MUG, **changes}]}, format="json")
        assert response.status_code == 202, response.content

    def sync(self) -> None:
        with tenant_scope(self.tenant):
            inbound_events_process_pending(transport=TRANSPORT)
            map_everything(self.source, self.xero)
            drain_until_idle(self.xero)
            assert not held_causes(self.xero), held_causes(self.xero)

    def item(self) -> dict:
        with tenant_scope(self.tenant):
            (item,) = [i for i in xero_read(self.xero, "Items") if i["Code"] == MUG["sku"]]
        return item

    def price_in_xero(self, price: str) -> None:
        """A person changes the item's sale price in Xero (the rest of its sales details unchanged)."""
        item = self.item()
        sales = {**item["SalesDetails"], "UnitPrice": Decimal(price)}
        with tenant_scope(self.tenant), xero_client(self.xero) as client:
            client.post(
                "Items", params={"unitdp": 4}, json_body={"Items": [{"Code": item["Code"], "SalesDetails": sales}]}
            )

    def settlements(self) -> list[AuditEntry]:
        with tenant_scope(self.tenant):
            return list(AuditEntry.objects.filter(entity="item", outcome="settled").order_by("id"))


def _in_xero(api, world, *, owners: tuple[str | None, str | None]) -> tuple[Partner, Partner]:
    pair = (
        Partner(world.tenant_a1, world.agency_a, api, name="crm-a", owner=owners[0]),
        Partner(world.tenant_b1, world.agency_b, api, name="crm-b", owner=owners[1]),
    )
    for partner in pair:
        partner.push()
        partner.sync()
        assert partner.item()["SalesDetails"]["UnitPrice"] == Decimal("12.50")
    return pair


def test_the_item_price_system_of_record_wins_concurrent_edits(api, world):
    xero_owned, source_owned = _in_xero(api, world, owners=("xero", "source"))
    for partner in (xero_owned, source_owned):
        partner.price_in_xero("15.00")
        partner.push(name="Stoneware mug, large", price="13.00")
        partner.sync()

    # Xero owns the price: the update renames the item but keeps Xero's price.
    item = xero_owned.item()
    assert (item["Name"], item["SalesDetails"]["UnitPrice"]) == ("Stoneware mug, large", Decimal("15.00"))
    (settled,) = xero_owned.settlements()
    assert settled.request["source"]["sales_unit_price"] == "13.0000"
    assert settled.request["xero"]["sales_unit_price"] == "15.0000"
    assert (settled.response["winner"], settled.response["rule"]) == ("xero", "system_of_record")
    assert "Xero wins" in settled.detail and "item price" in settled.detail

    # The source owns it: its price reaches Xero over the one set there.
    item = source_owned.item()
    assert (item["Name"], item["SalesDetails"]["UnitPrice"]) == ("Stoneware mug, large", Decimal("13.00"))
    (settled,) = source_owned.settlements()
    assert (settled.response["winner"], settled.response["rule"]) == ("source", "system_of_record")

    # Later updates that leave the price alone settle nothing again, and Xero's price still stands.
    for partner in (xero_owned, source_owned):
        partner.push(name="Stoneware mug, 500 ml", price="13.00")
        partner.sync()
        assert len(partner.settlements()) == 1
    assert xero_owned.item()["SalesDetails"]["UnitPrice"] == Decimal("15.00")
    assert source_owned.item()["SalesDetails"]["UnitPrice"] == Decimal("13.00")

    # Xero owning the price also holds off a source change when Xero did not change it.
    xero_owned.push(name="Stoneware mug, 500 ml", price="9.99")
    xero_owned.sync()
    assert xero_owned.item()["SalesDetails"]["UnitPrice"] == Decimal("15.00")
    assert xero_owned.settlements()[-1].request["source"]["sales_unit_price"] == "9.9900"


def test_without_a_system_of_record_the_later_price_change_wins(api, world):
    source_later, xero_later = _in_xero(api, world, owners=(None, None))
    for partner, hours in ((source_later, 1), (xero_later, -1)):
        partner.price_in_xero("15.00")
        moment = (timezone.now() + timedelta(hours=hours)).isoformat()
        partner.push(name="Stoneware mug, large", price="13.00", updated_at=moment)
        partner.sync()

    assert source_later.item()["SalesDetails"]["UnitPrice"] == Decimal("13.00")
    assert xero_later.item()["SalesDetails"]["UnitPrice"] == Decimal("15.00")
    assert xero_later.item()["Name"] == "Stoneware mug, large"
    for partner, winner in ((source_later, "source"), (xero_later, "xero")):
        (settled,) = partner.settlements()
        assert (settled.response["winner"], settled.response["rule"]) == (winner, "later_change")


def test_a_price_changed_on_one_side_only_simply_flows(api, world):
    source_side, xero_side = _in_xero(api, world, owners=(None, None))
    source_side.push(price="13.00")
    source_side.sync()
    xero_side.price_in_xero("15.00")
    xero_side.push(name="Stoneware mug, large")
    xero_side.sync()

    assert source_side.item()["SalesDetails"]["UnitPrice"] == Decimal("13.00")
    # Xero's own change stands: the source did not change its price, only the name.
    assert (xero_side.item()["Name"], xero_side.item()["SalesDetails"]["UnitPrice"]) == (
        "Stoneware mug, large",
        Decimal("15.00"),
    )
    assert source_side.settlements() == [] and xero_side.settlements() == []
