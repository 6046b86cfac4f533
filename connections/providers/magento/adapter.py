"""Magento 2 as a source: incremental reads by updated_at, fetch by id, normalisation, and write-backs.

Entities: customers (/V1/customers/search), orders (/V1/orders), payments (paid invoices, /V1/invoices, state 2),
refunds (credit memos, /V1/creditmemos), products (/V1/products) and stock (the products' stock items). Lists are
filtered `updated_at >= since` and sorted by updated_at ascending, so a cursor can follow them.

Tax basis. Whether catalogue prices include tax is store configuration (tax/calculation/price_includes_tax) that
Magento's REST API does not expose (GET /V1/store/storeConfigs has currencies, locale and URLs only). So:
1. a `prices_include_tax` entry in the connection's non-secret settings wins, when the Connection model has a
   `settings` mapping (it does not yet; see the report for the model change);
2. else an order's own numbers decide where they can (a discount that hides tax, an inclusive catalogue price:
   see normalize.order_prices_include_tax);
3. else the store's default, inferred once from its 20 most recent orders and cached per connection for a day.
An order whose numbers show tax hidden in a discount is always read inclusive, so its lines add up either way.
"""

from collections.abc import Iterator
from datetime import UTC, datetime

from django.core.cache import cache

from connections.checks import CheckResult, host_of, unreachable
from connections.paging import magento_pages
from connections.providers.magento import normalize as nz
from connections.providers.magento.client import MagentoClient
from connections.sources import SourceAdapter
from core.errors import ApplicationError, NotFoundError, ProviderAuthError, RequestError, RetryableError
from core.money import quantize

NO_ROUTE = "Request does not match any route."
TAX_BASIS_CACHE_SECONDS = 24 * 3600
TAX_BASIS_SAMPLE = 20
# The largest page Magento serves with its Web API input limits on (2.4.7+, research/sources.md §1.3); without
# limits it serves any size, so this works on every store and keeps a 50,000-order read to a few hundred requests.
PAGE_SIZE = 300
# An order (and a credit memo, which carries its whole order) is about ten times a customer's or an invoice's size:
# read 300 at a time, a page of them was 4 MB of JSON, and the poll held it three times over (the response, its
# text and the records) at its peak. A sixth of that is still few requests (1,000 for 50,000 orders), and a page
# of 100 (1.2 MB) still set the poll's peak.
PAGE_SIZES = {"order": 50, "refund": 50}
# A payment needs only its order's payment block (method, gateway transaction): the rest is not sent.
PAYMENT_CONTEXT_FIELDS = "items[entity_id,payment[method,last_trans_id]],total_count"
# A credit memo carries its whole order (its lines and taxes). The orders are fetched for this many credit memos at
# a time: for a page of 300, they and their orders were 4 MB of text and more than any page of orders at once.
REFUND_CONTEXT_BATCH = 50
# The orders of a page of invoices are searched this many at a time: the store reads each whole order to answer
# with the payment block alone, and a search for 300 of them was the largest thing a poll read.
CONTEXT_PAGE_SIZE = 100

# entity -> (list path, id field)
LISTS = {
    "customer": ("V1/customers/search", "id"),
    "order": ("V1/orders", "entity_id"),
    "payment": ("V1/invoices", "entity_id"),
    "refund": ("V1/creditmemos", "entity_id"),
    "product": ("V1/products", "sku"),
}


def magento_time(value: datetime) -> str:
    """Magento's "YYYY-MM-DD HH:MM:SS", in UTC."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def search_params(*filters: tuple[str, str, str], sort: str | None = None, direction: str = "ASC") -> dict:
    """searchCriteria query parameters: each (field, condition, value) in its own group (ANDed), one sort order."""
    params = {}
    for index, (field, condition, value) in enumerate(filters):
        prefix = f"searchCriteria[filter_groups][{index}][filters][0]"
        params[f"{prefix}[field]"] = field
        params[f"{prefix}[value]"] = value
        params[f"{prefix}[condition_type]"] = condition
    if sort:
        params["searchCriteria[sortOrders][0][field]"] = sort
        params["searchCriteria[sortOrders][0][direction]"] = direction
    return params


class MagentoAdapter(SourceAdapter):
    entities = ("customer", "order", "payment", "refund", "product", "stock")
    provider_name = "Magento"
    webhook_kinds = {
        "observer.sales_order_save_commit_after": "order",
        "plugin.magento.sales.api.order_management.place": "order",
        "observer.sales_order_invoice_save_after": "payment",
        "observer.sales_order_creditmemo_save_after": "refund",
        "observer.customer_save_commit_after": "customer",
    }

    # The store's default tax basis once read (store_prices_include_tax).
    _store_inclusive: bool | None = None

    @classmethod
    def for_connection(cls, connection, *, transport=None, **client_options):
        return cls(connection, client=MagentoClient(connection=connection, transport=transport, **client_options))

    # Test ----------------------------------------------------------------------------------------------------

    def test(self) -> CheckResult:
        host, code = host_of(self.client.base_url), self.client.store_code
        try:
            body = self.client.get("V1/orders", params={"searchCriteria[pageSize]": 1}).json()
        except ProviderAuthError:
            if not _magento_shaped(self.client.last_response):
                return _not_magento(host)
            return CheckResult(
                False,
                "Magento refused the access token: check it in System › Integrations (the integration needs "
                "access to Sales › Operations › Orders).",
            )
        except RetryableError as exc:
            return unreachable(exc, host, "Magento")
        except RequestError:
            response = self.client.last_response
            if response is not None and response.status_code == 404 and _magento_message(response) == NO_ROUTE:
                return self._wrong_store_code(host, code)
            return _not_magento(host)
        except ValueError:
            return _not_magento(host)
        if not isinstance(body, dict) or "total_count" not in body:
            return _not_magento(host)
        return CheckResult(
            True, f"Connected to the Magento store view '{code}' at {host} ({body['total_count']} orders)."
        )

    def _wrong_store_code(self, host: str, code: str) -> CheckResult:
        message = f"Magento at {host} has no store view '{code}': check the store view code."
        try:
            views = self.client.get(f"{self.client.rest_root}/V1/store/storeViews").json()
            codes = [view["code"] for view in views if isinstance(view, dict) and view.get("code")]
        except (ApplicationError, ValueError, TypeError, KeyError):
            return CheckResult(False, message)
        if codes:
            message = f"{message[:-1]} (this store has: {', '.join(codes)})."
        return CheckResult(False, message)

    # Reads ---------------------------------------------------------------------------------------------------

    def changed(self, entity: str, *, since: datetime | None) -> Iterator[tuple[str, datetime | None, dict]]:
        entity = self._entity(entity)
        if entity == "stock":
            # Magento does not date stock changes: every product's stock item, every time.
            for product in magento_pages(self.client, "V1/products", page_size=PAGE_SIZE):
                stock = (product.get("extension_attributes") or {}).get("stock_item")
                if stock is not None:
                    yield product["sku"], None, {**stock, "_context": {"sku": product["sku"]}}
            return
        path, id_field = LISTS[entity]
        filters = [("updated_at", "gteq", magento_time(since))] if since else []
        if entity == "payment":
            filters.append(("state", "eq", str(nz.INVOICE_PAID)))
        params = search_params(*filters, sort="updated_at")
        size = PAGE_SIZES.get(entity, PAGE_SIZE)
        page = []
        for record in magento_pages(self.client, path, params=params, page_size=size):
            page.append(record)
            if len(page) == size:
                yield from self._emit(entity, id_field, page)
                page = []
        yield from self._emit(entity, id_field, page)

    def _emit(self, entity, id_field, records):
        if entity in ("payment", "refund"):
            size = REFUND_CONTEXT_BATCH if entity == "refund" else max(len(records), 1)
            for start in range(0, len(records), size):
                yield from _listed(id_field, self._with_order_context(entity, records[start : start + size]))
            return
        yield from _listed(id_field, records)

    def _with_order_context(self, entity: str, records: list[dict]) -> list[dict]:
        """Invoices and credit memos with what they need from their orders, one search per call.

        Nothing is kept from one call to the next: a reader that kept every order's payment block for the invoices
        that follow held more the larger the store (0.67 MB at 5,000 orders), for one search per page saved."""
        ids = sorted({str(r["order_id"]) for r in records if r.get("order_id")})
        fetched = {}
        if ids:
            params = search_params(("entity_id", "in", ",".join(ids)))
            if entity == "payment":
                params["fields"] = PAYMENT_CONTEXT_FIELDS
            pages = magento_pages(self.client, "V1/orders", params=params, page_size=CONTEXT_PAGE_SIZE)
            fetched = {str(o["entity_id"]): o for o in pages}
        return [order_context(entity, record, fetched.get(str(record.get("order_id")))) for record in records]

    def fetch(self, entity: str, source_id: str) -> dict:
        entity = self._entity(entity)
        try:
            if entity == "customer":
                return self.client.customer_get(source_id)
            if entity == "order":
                return self.client.order_get(source_id)
            if entity == "product":
                return self.client.product_get(source_id)
            if entity == "stock":
                return {**self.client.stock_item_get(source_id), "_context": {"sku": source_id}}
            if entity == "payment":
                if source_id.startswith("order:"):
                    return self.client.order_get(source_id.removeprefix("order:"))
                record = self.client.invoice_get(source_id)
            else:
                record = self.client.creditmemo_get(source_id)
        except RequestError as exc:
            if exc.extra.get("status") == 404:
                raise NotFoundError(f"Magento has no {entity} '{source_id}'.") from exc
            raise
        order = self.client.order_get(record["order_id"]) if record.get("order_id") else None
        return order_context(entity, record, order)

    def normalize(self, entity: str, native: dict):
        entity = self._entity(entity)
        if entity == "customer":
            return nz.normalize_customer(native)
        if entity == "order":
            return nz.normalize_order(native, prices_include_tax=self.order_prices_include_tax(native))
        if entity == "payment":
            return nz.normalize_payment(native)
        if entity == "refund":
            order = (native.get("_context") or {}).get("order")
            inclusive = self.order_prices_include_tax(order) if order else self.store_prices_include_tax()
            return nz.normalize_creditmemo(native, prices_include_tax=inclusive)
        if entity == "product":
            return nz.normalize_product(native)
        return nz.normalize_stock_item(native)

    def webhook_source_id(self, kind: str, body: dict) -> str:
        """The record's id in an Adobe Commerce delivery: I/O Events' data.value, or webhook data.<entity>."""
        entity = self._entity(kind)
        data = body.get("data") if isinstance(body, dict) else None
        data = data if isinstance(data, dict) else {}
        record = data.get("value")
        if not isinstance(record, dict):
            key = {"payment": "invoice", "refund": "creditmemo"}.get(entity, entity)
            record = data.get(key) if isinstance(data.get(key), dict) else {}
        value = record.get("sku") if entity in ("product", "stock") else record.get("entity_id", record.get("id"))
        if value in (None, ""):
            raise ApplicationError(f"The Magento event names no {entity} id.", code="webhook_without_id")
        return str(value)

    # Tax basis -----------------------------------------------------------------------------------------------

    def order_prices_include_tax(self, native: dict) -> bool:
        """The tax basis to read this order in (see the module docstring for the order of precedence)."""
        configured = (getattr(self.connection, "settings", None) or {}).get("prices_include_tax")
        if configured is not None:
            return bool(configured)
        return nz.order_prices_include_tax(native) or self.store_prices_include_tax()

    def store_prices_include_tax(self) -> bool:
        """The store's default tax basis, inferred from recent orders and cached per connection for a day.

        The adapter keeps what it read for its own life (one processing run): asking the cache for every order
        whose numbers do not decide its basis was a hundredth of processing's CPU."""
        if self._store_inclusive is not None:
            return self._store_inclusive
        key = f"connections:magento:prices_include_tax:{self.connection.pk}"
        inclusive = cache.get(key)
        if inclusive is None:
            params = {
                **search_params(sort="created_at", direction="DESC"),
                "searchCriteria[pageSize]": TAX_BASIS_SAMPLE,
            }
            orders = self.client.get("V1/orders", params=params).json().get("items") or []
            inclusive = any(nz.order_prices_include_tax(order) for order in orders)
            cache.set(key, inclusive, TAX_BASIS_CACHE_SECONDS)
        self._store_inclusive = inclusive
        return inclusive

    # Write-backs ---------------------------------------------------------------------------------------------

    def order_mark_paid(self, source_id: str, *, amount, paid_at: datetime, reference: str) -> None:
        """Invoice the order offline (Magento's "paid"), noting the Xero payment; a partial payment is noted only.

        Safe to repeat: an order with nothing left to pay is left alone, so a retry after a lost response does
        not try to invoice twice.
        """
        order = self.client.order_get(source_id)
        paid = nz.from_json_number(order.get("total_paid"))
        due = quantize(
            nz.from_json_number(order.get("grand_total")) - paid - nz.from_json_number(order.get("total_canceled"))
        )
        amount = quantize(amount)
        currency = order.get("order_currency_code") or ""
        note = f"Paid {currency} {amount} on {paid_at.astimezone(UTC):%Y-%m-%d} in Xero (ref {reference})."
        if due <= 0:
            return
        if amount < due:
            self.client.order_comment_add(
                source_id, comment=f"Part payment: {note} Still due: {currency} {due - amount}."
            )
            return
        self.client.order_invoice(source_id, comment=note)

    def order_add_comment(self, source_id: str, *, comment: str, status: str | None = None) -> None:
        """A status-history comment; a `status` of the order's current state (e.g. complete) also becomes its status."""
        self.client.order_comment_add(source_id, comment=comment, status=status)

    def customer_find(self, *, email: str, phone: str) -> dict | None:
        """By email (unique per website in Magento), else by the default billing address's telephone."""
        for field, value in (("email", email), ("billing_telephone", phone)):
            if value:
                found = self.client.customers_search(field, value)
                if found:
                    return min(found, key=lambda c: int(c["id"]))
        return None

    def customer_save(self, contact, *, source_id: str | None = None) -> dict:
        """Magento needs a first and last name and an email; the billing address is written when it is complete.

        Refused as ApplicationError "customer_incomplete" without an email (Magento cannot hold such a customer).
        """
        if not contact.email:
            raise ApplicationError(
                "Magento customers need an email address; this contact has none.", code="customer_incomplete"
            )
        current = self.client.customer_get(source_id) if source_id else {}
        customer = {
            "email": contact.email,
            "firstname": contact.first_name or "-",
            "lastname": contact.last_name or "-",
        }
        if contact.tax_number or current.get("taxvat"):
            customer["taxvat"] = contact.tax_number
        address = _billing_address(contact, current)
        if address is not None:
            others = [a for a in current.get("addresses") or [] if a.get("id") != address.get("id")]
            customer["addresses"] = [*others, address]
        if source_id:
            return self.client.customer_update(source_id, customer)
        return self.client.customer_create(customer)

    def stock_get(self, sku: str):
        """The default-source stock item's qty, or None when Magento has no product with this SKU."""
        try:
            item = self.client.stock_item_get(sku)
        except RequestError as exc:
            if exc.extra.get("status") == 404:
                return None
            raise
        return nz.from_json_number(item.get("qty") or 0)

    def stock_set(self, sku: str, quantity) -> bool:
        """Set the SKU's quantity (and in-stock flag) on its default-source stock item; nothing is sent when the
        quantity is already right."""
        quantity = nz.from_json_number(quantity)
        try:
            item = self.client.stock_item_get(sku)
        except RequestError as exc:
            if exc.extra.get("status") == 404:
                raise NotFoundError(f"Magento has no product '{sku}'.") from exc
            raise
        if nz.from_json_number(item.get("qty") or 0) == quantity:
            return False
        self.client.stock_item_update(sku, item["item_id"], {"qty": format(quantity, "f"), "is_in_stock": quantity > 0})
        return True


def _billing_address(contact, current: dict) -> dict | None:
    """The customer's default billing address with the contact's values, or None when Magento could not take it
    (a Magento address needs a street, city, postcode, a two-letter country and a telephone)."""
    source = next(
        (a for a in contact.addresses if a.kind == "billing"), contact.addresses[0] if contact.addresses else None
    )
    existing = next((a for a in current.get("addresses") or [] if a.get("default_billing")), None)
    if source is None or not (source.lines and source.city and source.postcode and contact.phone):
        return None
    if len(source.country) != 2 or not source.country.isalpha():
        return None
    address = dict(existing or {})
    address.update(
        {
            "firstname": contact.first_name or "-",
            "lastname": contact.last_name or "-",
            "street": list(source.lines),
            "city": source.city,
            "postcode": source.postcode,
            "country_id": source.country.upper(),
            "telephone": contact.phone,
            "default_billing": True,
            "default_shipping": bool((existing or {}).get("default_shipping", True)),
        }
    )
    if contact.company:
        address["company"] = contact.company
    if source.region:
        address["region"] = {"region": source.region, "region_code": None, "region_id": 0}
    return address


def _listed(id_field: str, records: list[dict]):
    for record in records:
        yield str(record[id_field]), nz.parse_time(record.get("updated_at")), record


def order_context(entity: str, record: dict, order: dict | None) -> dict:
    """An invoice (payment) or credit memo (refund) with what its normaliser needs from its order."""
    if order is None:
        return record
    if entity == "payment":
        payment = order.get("payment") or {}
        context = {"payment_method": payment.get("method") or "", "last_trans_id": payment.get("last_trans_id") or ""}
    else:
        context = {"order": order}
    return {**record, "_context": context}


def _magento_message(response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("message") if isinstance(body, dict) and isinstance(body.get("message"), str) else None


def _magento_shaped(response) -> bool:
    return response is not None and _magento_message(response) is not None


def _not_magento(host: str) -> CheckResult:
    return CheckResult(False, f"{host} doesn't answer like a Magento store: check the URL.")
