"""Load native Magento records (exactly as the REST API returns them) into a simulated store.

Accepts one record, a list, or a search response {"items": [...]}; recognises orders, customers, invoices,
credit memos, products and stock items by their fields, and stores each document unchanged, so GET answers it back
identically. A record with the id of an existing one replaces it. The account is the store code; a store that does
not exist yet is created (as `sandbox_magento_store --code <account>` would).
"""

from collections import Counter

from django.db import transaction

from sandbox.magento.models import Store
from sandbox.magento.records import PRODUCT, STOCK_ITEM, detect_kind, record_save


def _records(data) -> list:
    if isinstance(data, dict) and isinstance(data.get("items"), list) and "total_count" in data:
        return data["items"]
    if isinstance(data, list):
        return data
    return [data]


@transaction.atomic
def load_records(*, account: str, data) -> dict:
    """Store native records in the store `account`; returns counts per kind, e.g. {"orders": 1}."""
    from sandbox.magento.services import store_create

    records = _records(data)
    kinds = []
    for index, document in enumerate(records):
        kind = detect_kind(document)
        if kind is None:
            raise ValueError(f"record {index} is not a Magento order, customer, invoice, credit memo or product")
        kinds.append(kind)
    if not Store.objects.filter(code=account).exists():
        store_create(code=account)
    store = Store.objects.get(code=account)
    counts: Counter = Counter()
    for kind, document in zip(kinds, records, strict=True):
        record_save(store=store, kind=kind, document=document)
        counts[kind] += 1
        if kind == PRODUCT:
            stock = (document.get("extension_attributes") or {}).get("stock_item")
            if isinstance(stock, dict) and "item_id" in stock:
                record_save(store=store, kind=STOCK_ITEM, document=stock, sku=document["sku"])
                counts[STOCK_ITEM] += 1
    return dict(counts)
