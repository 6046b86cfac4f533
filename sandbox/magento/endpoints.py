"""The REST operations of the simulated Magento, one function each, and the route table that reaches them.

A handler takes the request context and the path's captured parts and returns what Magento would answer: a Python
value (JSON-encoded by the dispatcher) or a `RawJSON` built from stored documents without re-encoding them.
"""

import json
import re
from dataclasses import dataclass
from itertools import chain
from urllib.parse import unquote

from core import jsonfast
from sandbox.magento import services
from sandbox.magento.errors import NO_PRODUCT, MagentoError, invalid_type, not_found
from sandbox.magento.fields import apply_tree, parse_fields
from sandbox.magento.formats import dumps
from sandbox.magento.models import CreditMemo, Customer, Invoice, Order, Product, StockItem
from sandbox.magento.search import Column, SearchCriteriaError, parse_search_criteria, search


@dataclass(frozen=True, slots=True)
class RawJSON:
    """JSON text to send as is. It wraps the text rather than subclassing str: making a str subclass copies the
    text, and a page of 300 orders is 3.5 MB (in benchmarks the simulator answers inside the caller's process)."""

    text: str


def _columns(**kinds) -> dict[str, Column]:
    return {field: Column(name=spec[0], kind=spec[1]) for field, spec in kinds.items()}


TIMES = {"created_at": ("created_at", "dt"), "updated_at": ("updated_at", "dt")}
ORDER_COLUMNS = _columns(
    entity_id=("entity_id", "int"),
    increment_id=("increment_id", "str"),
    state=("state", "str"),
    status=("status", "str"),
    customer_id=("customer_id", "int"),
    customer_email=("customer_email", "str"),
    store_id=("view_id", "int"),
    grand_total=("grand_total", "dec"),
    **TIMES,
)
CUSTOMER_COLUMNS = _columns(
    id=("entity_id", "int"),
    entity_id=("entity_id", "int"),
    email=("email", "str"),
    firstname=("firstname", "str"),
    lastname=("lastname", "str"),
    group_id=("group_id", "int"),
    website_id=("website_id", "int"),
    store_id=("view_id", "int"),
    **TIMES,
)
INVOICE_COLUMNS = _columns(
    entity_id=("entity_id", "int"),
    increment_id=("increment_id", "str"),
    order_id=("order_id", "int"),
    state=("state", "int"),
    grand_total=("grand_total", "dec"),
    **TIMES,
)
CREDITMEMO_COLUMNS = {**INVOICE_COLUMNS, **_columns(invoice_id=("invoice_id", "int"))}
PRODUCT_COLUMNS = _columns(
    entity_id=("entity_id", "int"),
    id=("entity_id", "int"),
    sku=("sku", "str"),
    name=("name", "str"),
    type_id=("type_id", "str"),
    price=("price", "dec"),
    status=("status", "int"),
    **TIMES,
)


@dataclass
class Context:
    request: object
    store: object
    view: object
    body: object


def _search_response(ctx: Context, model, columns: dict, documents=None, prefilter=None) -> RawJSON:
    """{items, search_criteria, total_count} for a search endpoint, from the stored documents (`documents`, when
    given, makes them from the page's (sku, document) pairs)."""
    try:
        criteria = parse_search_criteria(ctx.request.GET)
    except SearchCriteriaError as exc:
        raise MagentoError(400, exc.message, exc.parameters) from None
    queryset = model.objects.filter(store=ctx.store)
    if prefilter is not None:
        queryset = prefilter(queryset, criteria)
    total, rows = search(
        queryset, criteria, columns, default_order="pk", read=("sku", "document") if documents else ("document",)
    )
    items = documents(rows) if documents else [document for (document,) in rows]
    spec = ctx.request.GET.get("fields", "").strip()
    if spec:
        # Trimmed one document at a time: the dispatcher trims the whole answer again (the same result), but
        # decoding a page of whole documents at once made a page of 300 orders 10 MB of objects for a few ids.
        tree = parse_fields(spec).get("items")
        # Read by orjson where it reads what json reads (core.jsonfast): the same values, keys in the same order.
        items = [dumps(apply_tree(jsonfast.loads(item.encode()), tree)) for item in items] if tree else items
    tail = f'],"search_criteria":{json.dumps(criteria.echo)},"total_count":{total}}}'
    # One join of the documents themselves: joining the items first and then adding to them made a copy per step.
    return RawJSON("".join(chain(['{"items":['], _separated(items, ","), [tail])))


def _separated(parts: list[str], separator: str):
    for index, part in enumerate(parts):
        if index:
            yield separator
        yield part


def _id(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise invalid_type(value, "int") from None


def _get(model, ctx: Context, **lookup):
    row = model.objects.filter(store=ctx.store, **lookup).first()
    if row is None:
        raise not_found()
    return RawJSON(row.document)


# --- orders -------------------------------------------------------------------------------------------------------


def orders_search(ctx):
    return _search_response(ctx, Order, ORDER_COLUMNS)


def order_get(ctx, order_id):
    return _get(Order, ctx, entity_id=_id(order_id))


def order_comments_list(ctx, order_id):
    row = Order.objects.filter(store=ctx.store, entity_id=_id(order_id)).first()
    if row is None:
        raise not_found()
    histories = row.as_dict().get("status_histories", [])
    return {"items": histories, "search_criteria": {"filter_groups": []}, "total_count": len(histories)}


def order_comment_add(ctx, order_id):
    history = ctx.body.get("statusHistory") if isinstance(ctx.body, dict) else None
    if not isinstance(history, dict):
        raise MagentoError(400, '"%fieldName" is required. Enter and try again.', {"fieldName": "statusHistory"})
    return services.order_comment_add(store=ctx.store, order_id=_id(order_id), history=history)


def order_hold(ctx, order_id):
    return services.order_hold(store=ctx.store, order_id=_id(order_id))


def order_unhold(ctx, order_id):
    return services.order_unhold(store=ctx.store, order_id=_id(order_id))


def order_cancel(ctx, order_id):
    return services.order_cancel(store=ctx.store, order_id=_id(order_id))


def order_invoice(ctx, order_id):
    body = ctx.body if isinstance(ctx.body, dict) else {}
    comment = (body.get("comment") or {}).get("comment", "") if isinstance(body.get("comment"), dict) else ""
    return services.invoice_create(store=ctx.store, order_id=_id(order_id), items=body.get("items"), comment=comment)


def order_refund(ctx, order_id):
    body = ctx.body if isinstance(ctx.body, dict) else {}
    return services.creditmemo_create(
        store=ctx.store, order_id=_id(order_id), items=body.get("items"), arguments=body.get("arguments") or {}
    )


# --- invoices and credit memos ------------------------------------------------------------------------------------


def invoices_search(ctx):
    return _search_response(ctx, Invoice, INVOICE_COLUMNS)


def invoice_get(ctx, invoice_id):
    return _get(Invoice, ctx, entity_id=_id(invoice_id))


def creditmemos_search(ctx):
    return _search_response(ctx, CreditMemo, CREDITMEMO_COLUMNS)


def creditmemo_get(ctx, creditmemo_id):
    return _get(CreditMemo, ctx, entity_id=_id(creditmemo_id))


# --- customers ----------------------------------------------------------------------------------------------------


def customers_search(ctx):
    return _search_response(ctx, Customer, CUSTOMER_COLUMNS, prefilter=_billing_telephone)


def _billing_telephone(queryset, criteria):
    """Magento's customer search joins the default billing address (billing_telephone, billing_postcode, …): a
    telephone filter group is answered from the stored documents, the other groups as usual."""
    for group in criteria.groups:
        phones = {str(f.value) for f in group if f.field == "billing_telephone" and f.condition_type == "eq"}
        if not phones:
            continue
        ids = [
            row.entity_id
            for row in queryset
            if any(str(a.get("telephone") or "") in phones for a in _billing_addresses(row.as_dict()))
        ]
        group[:] = [f for f in group if f.field != "billing_telephone"]
        queryset = queryset.filter(entity_id__in=ids)
    criteria.groups = [group for group in criteria.groups if group]
    return queryset


def _billing_addresses(customer: dict) -> list[dict]:
    addresses = customer.get("addresses") or []
    default = str(customer.get("default_billing") or "")
    return [a for a in addresses if a.get("default_billing") or str(a.get("id")) == default] or addresses[:1]


def customer_create(ctx):
    return services.customer_save(store=ctx.store, data=_customer_body(ctx))


def customer_update(ctx, customer_id):
    return services.customer_save(store=ctx.store, data=_customer_body(ctx), customer_id=_id(customer_id))


def _customer_body(ctx) -> dict:
    body = ctx.body if isinstance(ctx.body, dict) else {}
    customer = body.get("customer")
    if not isinstance(customer, dict):
        raise MagentoError(400, '"%fieldName" is required. Enter and try again.', {"fieldName": "customer"})
    return customer


def customer_get(ctx, customer_id):
    row = Customer.objects.filter(store=ctx.store, entity_id=_id(customer_id)).first()
    if row is None:
        raise MagentoError(
            404, "No such entity with %fieldName = %fieldValue", {"fieldName": "customerId", "fieldValue": customer_id}
        )
    return RawJSON(row.document)


# --- products and stock -------------------------------------------------------------------------------------------


def _product_documents(store, rows) -> list[str]:
    """Product JSON with the current stock item spliced in where the document carries one (as Magento's does), for
    (sku, document) pairs."""
    stock = {s.sku: s.document for s in StockItem.objects.filter(store=store, sku__in=[sku for sku, _ in rows])}
    out = []
    for sku, text in rows:
        if sku in stock and '"stock_item"' in text:
            document = json.loads(text)
            document.setdefault("extension_attributes", {})["stock_item"] = json.loads(stock[sku])
            out.append(dumps(document))
        else:
            out.append(text)
    return out


def products_search(ctx):
    return _search_response(ctx, Product, PRODUCT_COLUMNS, lambda rows: _product_documents(ctx.store, rows))


def product_get(ctx, sku):
    row = Product.objects.filter(store=ctx.store, sku=unquote(sku)).first()
    if row is None:
        raise MagentoError(404, NO_PRODUCT)
    return RawJSON(_product_documents(ctx.store, [(row.sku, row.document)])[0])


def stock_item_get(ctx, sku):
    sku = unquote(sku)
    if not Product.objects.filter(store=ctx.store, sku=sku).exists():
        raise MagentoError(404, NO_PRODUCT)
    row = StockItem.objects.filter(store=ctx.store, sku=sku).first()
    if row is None:
        raise MagentoError(404, NO_PRODUCT)
    return RawJSON(row.document)


def stock_item_update(ctx, sku, item_id):
    body = ctx.body if isinstance(ctx.body, dict) else {}
    changes = body.get("stockItem")
    if not isinstance(changes, dict):
        raise MagentoError(400, '"%fieldName" is required. Enter and try again.', {"fieldName": "stockItem"})
    return services.stock_item_update(store=ctx.store, sku=unquote(sku), item_id=_id(item_id), changes=changes)


# --- store configuration ------------------------------------------------------------------------------------------


def store_views(ctx):
    return [
        {
            "id": view.magento_id,
            "code": view.code,
            "name": view.name,
            "website_id": view.website_id,
            "store_group_id": 1,
            "is_active": 1,
        }
        for view in ctx.store.views.order_by("magento_id")
    ]


def store_configs(ctx):
    """Per view: currencies and locale, what a sync client reads to know the store's base currency."""
    store = ctx.store
    return [
        {
            "id": view.magento_id,
            "code": view.code,
            "website_id": view.website_id,
            "locale": "en_US",
            "base_currency_code": store.base_currency,
            "default_display_currency_code": view.display_currency or store.display_currency,
            "timezone": "UTC",
            "weight_unit": "kgs",
            "base_url": "",
            "base_link_url": "",
            "base_static_url": "",
            "base_media_url": "",
            "secure_base_url": "",
            "secure_base_link_url": "",
            "secure_base_static_url": "",
            "secure_base_media_url": "",
        }
        for view in store.views.order_by("magento_id")
    ]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern
    handler: object
    resource: str  # the ACL resource Magento names when a token is missing or not allowed

    @property
    def is_write(self) -> bool:
        return self.method != "GET"


def _route(method, pattern, handler, resource):
    return Route(method, re.compile("^" + pattern + "$"), handler, resource)


SALES = "Magento_Sales::actions_view"
ROUTES = (
    _route("GET", r"orders", orders_search, SALES),
    _route("GET", r"orders/([^/]+)", order_get, SALES),
    _route("GET", r"orders/([^/]+)/comments", order_comments_list, SALES),
    _route("POST", r"orders/([^/]+)/comments", order_comment_add, "Magento_Sales::comment"),
    _route("POST", r"orders/([^/]+)/hold", order_hold, "Magento_Sales::hold"),
    _route("POST", r"orders/([^/]+)/unhold", order_unhold, "Magento_Sales::unhold"),
    _route("POST", r"orders/([^/]+)/cancel", order_cancel, "Magento_Sales::cancel"),
    _route("POST", r"order/([^/]+)/invoice", order_invoice, "Magento_Sales::sales_invoice"),
    _route("POST", r"order/([^/]+)/refund", order_refund, "Magento_Sales::sales_creditmemo"),
    _route("GET", r"invoices", invoices_search, "Magento_Sales::sales_invoice"),
    _route("GET", r"invoices/([^/]+)", invoice_get, "Magento_Sales::sales_invoice"),
    _route("GET", r"creditmemos", creditmemos_search, "Magento_Sales::sales_creditmemo"),
    _route("GET", r"creditmemo/([^/]+)", creditmemo_get, "Magento_Sales::sales_creditmemo"),
    _route("GET", r"customers/search", customers_search, "Magento_Customer::customer"),
    _route("GET", r"customers/([^/]+)", customer_get, "Magento_Customer::customer"),
    _route("POST", r"customers", customer_create, "Magento_Customer::manage"),
    _route("PUT", r"customers/([^/]+)", customer_update, "Magento_Customer::manage"),
    _route("GET", r"products", products_search, "Magento_Catalog::products"),
    _route("GET", r"products/([^/]+)", product_get, "Magento_Catalog::products"),
    _route("GET", r"stockItems/([^/]+)", stock_item_get, "Magento_CatalogInventory::cataloginventory"),
    _route(
        "PUT",
        r"products/([^/]+)/stockItems/([^/]+)",
        stock_item_update,
        "Magento_CatalogInventory::cataloginventory",
    ),
    _route("GET", r"store/storeViews", store_views, "Magento_Backend::store"),
    _route("GET", r"store/storeConfigs", store_configs, "Magento_Backend::store"),
)


def route_match(method: str, path: str):
    """The route and its captured parts for a request, or (None, None): Magento's "does not match any route"."""
    for route in ROUTES:
        if route.method != method:
            continue
        match = route.pattern.match(path)
        if match:
            return route, match.groups()
    return None, None
