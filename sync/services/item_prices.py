"""Item prices settled between a source and Xero before a product update is sent (the item-price field group).

Xero has no item webhooks and a product update carries the item's prices, so the drain reads the batch's items from
Xero first (one `GET Items` per batch) and compares their prices with those at the last sync, kept on the item's
cross-reference (`synced_values`, as for contacts). Whoever wins keeps the price: when Xero wins, the update carries
Xero's own current prices back unchanged, so every other field still flows. A side that alone changed its price
wins unless the other side is the system of record; when both changed, the system of record wins, else the later
modification (sync.services.conflicts.conflict_settle, which writes the audit entry).
"""

from decimal import Decimal, InvalidOperation

from connections.providers.xero import accounting
from connections.providers.xero.normalize import parse_xero_date
from core.money import UNIT_PRICE_4DP, quantize
from mappings.models import SystemOfRecord
from sync.models import CrossReference, SyncJob
from sync.services.conflicts import SOURCE, XERO, conflict_settle, systems_of_record, xref_synced_values

GROUP = SystemOfRecord.FieldGroup.ITEM_PRICE
# Price block of a Xero item → its key in the stored field-group values.
PRICE_BLOCKS = {"SalesDetails": "sales_unit_price", "PurchaseDetails": "purchase_unit_price"}


def item_prices_settle(client, jobs: list[SyncJob], *, own_xrefs: dict[str, CrossReference]) -> int:
    """Settle each item update's prices against the item Xero holds now; returns how many kept Xero's prices.

    A job whose item is not in Xero yet is left as built. `own_xrefs` are the jobs' cross-references by source id.
    """
    from sync.services.drain import canonical_record

    codes = [job.payload["Code"] for job in jobs if job.payload and job.payload.get("Code")]
    if not codes:
        return 0
    in_xero = accounting.find_by(client, "item", "Code", codes, extra_params={"unitdp": "4"})
    owners: dict[int, dict[str, str]] = {}
    kept = 0
    for job in jobs:
        record = in_xero.get((job.payload or {}).get("Code"))
        if record is None:
            continue
        if job.source_connection_id not in owners:
            owners[job.source_connection_id] = systems_of_record(source_connection=job.source_connection)
        winner = _winner(
            job,
            product=canonical_record(job),
            record=record,
            xref=own_xrefs.get(job.source_id),
            owners=owners[job.source_connection_id],
        )
        if winner == XERO:
            job.payload = _with_xero_prices(job.payload, record)
            kept += 1
    return kept


def item_synced_values(*, payload: dict, product) -> dict:
    """What each side holds after an item update reached Xero: Xero the prices sent, the source its own."""
    return {XERO: {GROUP: xero_prices(payload, payload)}, SOURCE: {GROUP: source_prices(product, payload)}}


def source_prices(product, payload: dict) -> dict:
    """The source's prices for the price blocks the update carries (4 decimals, as sent), None when it has none."""
    values = {"SalesDetails": product.price, "PurchaseDetails": product.cost}
    return {key: _price(values[block]) for block, key in PRICE_BLOCKS.items() if block in payload}


def xero_prices(record: dict, payload: dict) -> dict:
    """A Xero item's prices (as Xero answers it, or as we sent it) for the price blocks the update carries."""
    return {
        key: _price((record.get(block) or {}).get("UnitPrice"))
        for block, key in PRICE_BLOCKS.items()
        if block in payload
    }


def _winner(job: SyncJob, *, product, record: dict, xref: CrossReference | None, owners: dict[str, str]) -> str:
    source_now, xero_now = source_prices(product, job.payload), xero_prices(record, job.payload)
    owner = owners.get(GROUP)
    if source_now == xero_now:
        return SOURCE
    synced_xero, synced_source = xref_synced_values(xref)
    # Never synced (an item that was in Xero before us, say): each side may have changed since.
    source_changed = GROUP not in synced_source or synced_source[GROUP] != source_now
    xero_changed = GROUP not in synced_xero or synced_xero[GROUP] != xero_now
    if not source_changed and not xero_changed:
        # The prices differ as settled last time: the same rule holds (Xero kept its price, unless the source owns it).
        return SOURCE if owner == SOURCE else XERO
    if source_changed != xero_changed and owner != (XERO if source_changed else SOURCE):
        # One side alone changed the price and the other side does not own it: that change simply flows.
        return SOURCE if source_changed else XERO
    return conflict_settle(
        source_connection=job.source_connection,
        entity="item",
        source_id=job.source_id,
        xero_id=str(record.get("ItemID") or ""),
        group=GROUP,
        source_value=source_now,
        xero_value=xero_now,
        source_changed_at=product.updated_at if source_changed else None,
        xero_changed_at=parse_xero_date(record.get("UpdatedDateUTC")) if xero_changed else None,
        owners=owners,
    ).winner


def _with_xero_prices(payload: dict, record: dict) -> dict:
    """The update with Xero's own current prices in place of the source's (every other field unchanged)."""
    payload = dict(payload)
    for block in PRICE_BLOCKS:
        if block not in payload:
            continue
        details = {k: v for k, v in payload[block].items() if k != "UnitPrice"}
        price = (record.get(block) or {}).get("UnitPrice")
        if price is not None:
            details["UnitPrice"] = price
        payload[block] = details
    return payload


def _price(value) -> str | None:
    """A unit price as a 4-decimal string (comparable across JSON, Xero's answers and our Decimals)."""
    if value is None or value == "":
        return None
    try:
        return str(quantize(Decimal(str(value)), UNIT_PRICE_4DP))
    except InvalidOperation:
        return None
