"""Stock from Xero where its tracked items are the inventory master: quantities reach Magento and Cin7 Core, and an
unchanged quantity writes nothing. Two tenants; the one that keeps its own stock master is never touched."""

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from connections.services import connection_create
from mappings.models import ItemMapping, SystemOfRecord
from sandbox.cin7.models import Cin7Record
from sandbox.cin7.services import account_ensure, record_store
from sandbox.faults import fault_profile_set
from sandbox.magento.models import StockItem
from sandbox.xero.models import Item, Organisation
from sync.models import AuditEntry, WriteBack, WriteBackAttempt
from sync.services.write_backs import write_backs_run
from sync.services.xero_stock import xero_stock_poll
from tenants.scoping import tenant_scope
from tests.sync.back_helpers import TRANSPORT, shop

pytestmark = pytest.mark.django_db
CIN7_API = "http://testserver/sandbox/cin7/ExternalApi/v2"


def _cin7(tenant, name: str, skus: dict[str, str]):
    """A Cin7 Core account whose products (SKU → on hand) sit at the Main Warehouse, and its connection."""
    account = account_ensure(name=name)
    for index, (sku, on_hand) in enumerate(skus.items()):
        row = {"ID": f"00000000-0000-0000-0000-{index + 1:012d}", "SKU": sku, "Name": sku, "Location": "Main Warehouse"}
        row.update({"OnHand": on_hand, "Allocated": 0, "Available": on_hand, "StockOnHand": on_hand, "Bin": None})
        record_store(account=account, kind=Cin7Record.Kind.AVAILABILITY, record=row)
    with tenant_scope(tenant):
        connection = connection_create(
            tenant=tenant,
            provider_id="cin7",
            display_name=name,
            credentials={"application_key": account.application_key},
            account={"account_id": account.account_id, "api_url": CIN7_API},
        )
    return account, connection


def _cin7_on_hand(account, sku: str) -> Decimal:
    row = Cin7Record.objects.get(account=account, kind=Cin7Record.Kind.AVAILABILITY, sku=sku)
    return Decimal(str(json.loads(row.body)["OnHand"]))


def _magento_qty(store: str, sku: str) -> Decimal:
    return Decimal(str(StockItem.objects.get(store__code=store, sku=sku).as_dict()["qty"]))


def _tracked_items(s, codes: list[str]) -> None:
    """Tracked inventory items in the tenant's Xero org (inventory asset account 630, COGS 310)."""
    items = [
        {"Code": code, "Name": code, "InventoryAssetAccountCode": "630", "PurchaseDetails": {"COGSAccountCode": "310"}}
        for code in codes
    ]
    items.append({"Code": "SERVICE-FEE", "Name": "Service fee"})  # not tracked: no quantity to send
    with tenant_scope(s.tenant):
        from tests.sandbox_world import xero_client

        with xero_client(s.xero) as client:
            client.post("Items", json_body={"Items": items})


def _xero_quantity(s, code: str, quantity: str, *, later: int = 0) -> None:
    """Xero's quantity on hand moves (a bill or an invoice posted in Xero)."""
    org = Organisation.objects.get(tenant_id=s.org["tenant_id"])
    Item.objects.filter(org=org, code=code).update(
        quantity_on_hand=Decimal(quantity), updated_at=timezone.now() + timedelta(seconds=later)
    )


def _written(tenant) -> list[str]:
    """The SKUs whose quantity was written, per the audit trail."""
    with tenant_scope(tenant):
        return sorted(
            AuditEntry.objects.filter(operation="stock.set", outcome="updated").values_list("source_id", flat=True)
        )


def _poll(s, *targets) -> dict:
    """Poll Xero's items, then let the worker send what is owed to each source."""
    with tenant_scope(s.tenant):
        summary = xero_stock_poll(xero_connection=s.xero, transport=TRANSPORT)
        for target in targets:
            write_backs_run(connection=target, transport=TRANSPORT)
    return summary


def test_xero_quantities_reach_magento_and_cin7_and_unchanged_ones_write_nothing(world):
    mine, other = shop(world.tenant_a1, code="stocka"), shop(world.tenant_b1, code="stockb", seed=8)
    sku_a, sku_b, sku_c = sorted(StockItem.objects.filter(store__code="stocka").values_list("sku", flat=True))[:3]
    unchanged = _magento_qty("stocka", sku_b)
    account, cin7 = _cin7(world.tenant_a1, "stock-c7", {"C7-BOLT": 40, "C7-NUT": 10})
    with tenant_scope(mine.tenant):
        for source in (mine.magento, cin7):
            SystemOfRecord.objects.create(
                tenant=mine.tenant, source_connection=source, field_group="stock", owner="xero"
            )
        # Xero's code for one Magento product differs from its SKU: the item mapping says which it is.
        ItemMapping.objects.create(tenant=mine.tenant, source_connection=mine.magento, sku=sku_c, item_code="XC-1")
    _tracked_items(mine, [sku_a, sku_b, "XC-1", "C7-BOLT", "C7-NUT"])
    for code, quantity in ((sku_a, "7"), (sku_b, str(unchanged)), ("XC-1", "2.5"), ("C7-BOLT", "12"), ("C7-NUT", "10")):
        _xero_quantity(mine, code, quantity)
    other_before = {s.sku: s.document for s in StockItem.objects.filter(store__code="stockb")}
    _tracked_items(other, [sku_a])
    _xero_quantity(other, sku_a, "999")

    first = _poll(mine, mine.magento, cin7)

    assert _magento_qty("stocka", sku_a) == 7 and _magento_qty("stocka", sku_c) == Decimal("2.5")
    assert _magento_qty("stocka", sku_b) == unchanged
    assert (_cin7_on_hand(account, "C7-BOLT"), _cin7_on_hand(account, "C7-NUT")) == (12, 10)
    # sku_b and C7-NUT already had Xero's quantity: nothing is owed for them.
    assert (first[mine.magento.pk]["staged"], first[mine.magento.pk]["unchanged"]) == (2, 1)
    assert first[cin7.pk]["staged"] == 1 and first[cin7.pk]["not_in_source"] == 3
    assert _written(mine.tenant) == sorted(["C7-BOLT", sku_a, sku_c])

    # Nothing changed in Xero: the next poll owes nothing anywhere.
    again = _poll(mine, mine.magento, cin7)
    assert [again[c.pk]["staged"] for c in (mine.magento, cin7)] == [0, 0]
    assert len(_written(mine.tenant)) == 3

    # One quantity moves in Xero: only that one is written.
    _xero_quantity(mine, sku_a, "4", later=1)
    third = _poll(mine, mine.magento, cin7)
    assert third[mine.magento.pk]["staged"] == 1 and third[cin7.pk]["staged"] == 0
    assert _magento_qty("stocka", sku_a) == 4

    # The other tenant keeps its own stock master: nothing is polled or written there.
    with tenant_scope(other.tenant):
        assert xero_stock_poll(xero_connection=other.xero, transport=TRANSPORT) == {}
        assert not AuditEntry.objects.exists() and not WriteBack.objects.exists()
    assert {s.sku: s.document for s in StockItem.objects.filter(store__code="stockb")} == other_before


def test_a_store_that_is_down_gets_the_quantity_when_it_is_back_on_the_shared_retry_policy(world):
    mine, other = shop(world.tenant_a1, code="stockdown"), shop(world.tenant_b1, code="stockup", seed=8)
    sku = sorted(StockItem.objects.filter(store__code="stockdown").values_list("sku", flat=True))[0]
    for s in (mine, other):
        with tenant_scope(s.tenant):
            SystemOfRecord.objects.create(
                tenant=s.tenant, source_connection=s.magento, field_group="stock", owner="xero"
            )
        _tracked_items(s, [sku])
        _xero_quantity(s, sku, "31")
    other_before = {s.sku: s.document for s in StockItem.objects.filter(store__code="stockup")}
    with tenant_scope(mine.tenant):
        assert xero_stock_poll(xero_connection=mine.xero, transport=TRANSPORT)[mine.magento.pk]["staged"] == 1
    fault_profile_set(system="magento", account="stockdown", outage_until=timezone.now() + timedelta(hours=1))

    with tenant_scope(mine.tenant):
        assert write_backs_run(connection=mine.magento, transport=TRANSPORT) == {"pending": 1}
        write_back = WriteBack.objects.get()
        assert write_back.attempts == 1 and write_back.next_attempt_at > timezone.now()
        assert WriteBackAttempt.objects.filter(write_back=write_back, ok=False).count() == 1
    assert _magento_qty("stockdown", sku) != 31

    fault_profile_set(system="magento", account="stockdown", outage_until=None)
    with tenant_scope(mine.tenant):
        WriteBack.objects.filter(pk=write_back.pk).update(next_attempt_at=timezone.now())
        assert write_backs_run(connection=mine.magento, transport=TRANSPORT) == {"done": 1}
    assert _magento_qty("stockdown", sku) == 31
    # The other tenant (not polled here) owes nothing and its store is untouched by this tenant's work.
    with tenant_scope(other.tenant):
        assert not WriteBack.objects.exists()
    assert {s.sku: s.document for s in StockItem.objects.filter(store__code="stockup")} == other_before
