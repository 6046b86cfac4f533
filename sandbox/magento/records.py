"""Native records in and out of the tables: which columns a document fills, and how a kind is recognised."""

from django.db.models import Max

from sandbox.magento.formats import decimal_or_none, dumps, parse_magento_datetime
from sandbox.magento.models import CreditMemo, Customer, Invoice, Order, Product, StockItem, Store

ORDER, CUSTOMER, INVOICE, CREDITMEMO, PRODUCT, STOCK_ITEM = (
    "orders",
    "customers",
    "invoices",
    "creditmemos",
    "products",
    "stock_items",
)


def _int(value):
    try:
        return None if value is None or value == "" else int(value)
    except (TypeError, ValueError):
        return None


def _times(doc: dict) -> dict:
    return {
        "created_at": parse_magento_datetime(doc.get("created_at")),
        "updated_at": parse_magento_datetime(doc.get("updated_at") or doc.get("created_at")),
    }


def _order_columns(doc):
    return {
        "entity_id": _int(doc.get("entity_id")),
        "increment_id": str(doc.get("increment_id") or ""),
        "state": str(doc.get("state") or ""),
        "status": str(doc.get("status") or ""),
        "customer_id": _int(doc.get("customer_id")),
        "customer_email": str(doc.get("customer_email") or ""),
        "view_id": _int(doc.get("store_id")),
        "grand_total": decimal_or_none(doc.get("grand_total")),
        **_times(doc),
    }


def _customer_columns(doc):
    return {
        "entity_id": _int(doc.get("id")),
        "email": str(doc.get("email") or ""),
        "firstname": str(doc.get("firstname") or ""),
        "lastname": str(doc.get("lastname") or ""),
        "group_id": _int(doc.get("group_id")),
        "website_id": _int(doc.get("website_id")),
        "view_id": _int(doc.get("store_id")),
        **_times(doc),
    }


def _invoice_columns(doc):
    return {
        "entity_id": _int(doc.get("entity_id")),
        "increment_id": str(doc.get("increment_id") or ""),
        "order_id": _int(doc.get("order_id")),
        "state": _int(doc.get("state")),
        "grand_total": decimal_or_none(doc.get("grand_total")),
        **_times(doc),
    }


def _creditmemo_columns(doc):
    return {**_invoice_columns(doc), "invoice_id": _int(doc.get("invoice_id"))}


def _product_columns(doc):
    return {
        "entity_id": _int(doc.get("id")),
        "sku": str(doc.get("sku") or ""),
        "name": str(doc.get("name") or ""),
        "type_id": str(doc.get("type_id") or ""),
        "price": decimal_or_none(doc.get("price")),
        "status": _int(doc.get("status")),
        **_times(doc),
    }


def _stock_columns(doc):
    return {"item_id": _int(doc.get("item_id")), "product_id": _int(doc.get("product_id")) or 0, **_times(doc)}


KINDS = {
    ORDER: (Order, _order_columns, "entity_id"),
    CUSTOMER: (Customer, _customer_columns, "entity_id"),
    INVOICE: (Invoice, _invoice_columns, "entity_id"),
    CREDITMEMO: (CreditMemo, _creditmemo_columns, "entity_id"),
    PRODUCT: (Product, _product_columns, "entity_id"),
    STOCK_ITEM: (StockItem, _stock_columns, "item_id"),
}


def detect_kind(doc: dict) -> str | None:
    """Which entity a native document is, from the fields only that entity carries."""
    if not isinstance(doc, dict):
        return None
    if "item_id" in doc and "stock_id" in doc and ("qty" in doc or "is_in_stock" in doc):
        return STOCK_ITEM
    if "sku" in doc and ("type_id" in doc or "attribute_set_id" in doc):
        return PRODUCT
    if "order_id" in doc and (
        "adjustment_positive" in doc
        or "adjustment_negative" in doc
        or "creditmemo_status" in doc
        or "adjustment" in doc
    ):
        return CREDITMEMO
    if "order_id" in doc and ("total_qty" in doc or "can_void_flag" in doc or "items" in doc):
        return INVOICE
    if "entity_id" in doc and ("increment_id" in doc or "customer_email" in doc) and "items" in doc:
        return ORDER
    if "email" in doc and "firstname" in doc and "id" in doc:
        return CUSTOMER
    return None


def record_build(*, store: Store, kind: str, document: dict, sku: str = ""):
    """An unsaved row for `document` (kept as given: the text is what the API will answer).

    A stock item's JSON does not carry its SKU; pass it (or it is looked up from the product with that id).
    """
    model, columns, _ = KINDS[kind]
    values = columns(document)
    if kind == STOCK_ITEM:
        if not sku:
            product = Product.objects.filter(store=store, entity_id=values["product_id"]).only("sku").first()
            sku = product.sku if product else ""
        values["sku"] = sku
    return model(store=store, document=dumps(document), **values)


def record_save(*, store: Store, kind: str, document: dict, sku: str = ""):
    """Insert or replace the record with the same id (loading a record twice keeps one copy, the newest)."""
    row = record_build(store=store, kind=kind, document=document, sku=sku)
    model, _, id_field = KINDS[kind]
    model.objects.filter(store=store, **{id_field: getattr(row, id_field)}).delete()
    if kind in (PRODUCT, STOCK_ITEM):
        model.objects.filter(store=store, sku=row.sku).delete()
    row.save()
    return row


def record_update(row, document: dict) -> None:
    """Rewrite a row's document (after a write through the API) and refresh its columns."""
    kind = next(k for k, (model, _, _) in KINDS.items() if isinstance(row, model))
    _, columns, _ = KINDS[kind]
    for field, value in columns(document).items():
        if field != "sku":
            setattr(row, field, value)
    row.document = dumps(document)
    row.save()


def next_id(*, store: Store, kind: str) -> int:
    model, _, id_field = KINDS[kind]
    current = model.objects.filter(store=store).aggregate(top=Max(id_field))["top"]
    return (current or 0) + 1


def sequence_take(*, store: Store, name: str, count: int = 1) -> int:
    """Reserve `count` ids of a store-wide sequence (status histories, document items); returns the first."""
    locked = Store.objects.select_for_update().get(pk=store.pk)
    first = int(locked.counters.get(name, 0)) + 1
    locked.counters[name] = first + count - 1
    locked.save(update_fields=["counters"])
    store.counters = locked.counters
    return first
