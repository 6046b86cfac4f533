"""Seeded, realistic native data for a simulated Magento store.

`generate(account=..., seed=..., customers=..., orders=...)` creates the store if needed, a catalog (simple and
configurable products with stock items) the first time, customers (some sharing a name, never an email), and orders
covering what a sync must survive: guests, several lines with coupon discounts, shipping, several tax rates,
tax-inclusive or exclusive prices (the store's setting), foreign order currencies (base_to_order_rate), configurable
parent + child rows, invoices for paid orders, partial and full refunds with adjustments, cancellations, holds, and
orders edited after invoicing (a line added later, so totals and updated_at move past the invoice).

Amounts follow `sandbox.magento.totals` to the cent in both currencies. Rows are written with bulk_create.
"""

import random
from datetime import timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from core.bulk import rows_insert
from sandbox.magento import documents
from sandbox.magento.catalog import (
    CatalogProduct,
    address_fields,
    base_to_order_rate,
    build_catalog,
    customer_document,
    name_pool,
    regime_for,
    spread,
)
from sandbox.magento.formats import increment_id, magento_datetime, money
from sandbox.magento.models import Customer, Product, Store
from sandbox.magento.records import (
    CREDITMEMO,
    CUSTOMER,
    INVOICE,
    ORDER,
    PRODUCT,
    STOCK_ITEM,
    next_id,
    record_build,
)
from sandbox.magento.totals import ZERO, convert, grand_total, row_amounts, shipping_amounts

SCENARIOS = (
    ("pending", 15),
    ("processing", 30),
    ("complete", 22),
    ("canceled", 8),
    ("holded", 2),
    ("refund_full", 6),
    ("refund_partial", 10),
    ("edited_after_invoice", 7),
)
PAYMENTS = (
    ("banktransfer", ["Bank Transfer Payment", ""], None),
    ("checkmo", ["Check / Money order"], None),
    ("braintree", ["Credit Card (Braintree)"], "1111"),
    ("paypal_express", ["PayPal Express Checkout"], None),
)
COUPONS = (("SAVE10", Decimal(10)), ("WELCOME15", Decimal(15)), ("VIP20", Decimal(20)))
SHIPPING = (
    ("flatrate_flatrate", "Flat Rate - Fixed", Decimal("5.00")),
    ("tablerate_bestway", "Best Way - Table Rate", Decimal("12.50")),
    ("freeshipping_freeshipping", "Free Shipping - Free", Decimal("0.00")),
)


class StoreIds:
    """Store-wide id sequences, taken from the store's counters and the tables, written back at the end."""

    def __init__(self, store: Store):
        self.store = store
        self.values = {kind: next_id(store=store, kind=kind) - 1 for kind in (ORDER, CUSTOMER, INVOICE, CREDITMEMO)}
        self.values[PRODUCT] = max(next_id(store=store, kind=PRODUCT), next_id(store=store, kind=STOCK_ITEM)) - 1
        for name, value in store.counters.items():
            self.values[name] = int(value)

    def take(self, name: str) -> int:
        self.values[name] = self.values.get(name, 0) + 1
        return self.values[name]

    def save(self):
        counters = {k: v for k, v in self.values.items() if k not in (ORDER, CUSTOMER, INVOICE, CREDITMEMO, PRODUCT)}
        Store.objects.filter(pk=self.store.pk).update(counters=counters)


def catalog_from_store(store: Store) -> list[CatalogProduct]:
    """Reuse the products of an earlier run (their documents say price, tax class and configurable children)."""
    docs = {row.entity_id: row.as_dict() for row in Product.objects.filter(store=store)}
    catalog = []
    for doc in docs.values():
        attributes = {a["attribute_code"]: a.get("value") for a in doc.get("custom_attributes", [])}
        tax_class = int(attributes.get("tax_class_id") or 2)
        weight = Decimal(str(doc.get("weight") or 1))
        if doc.get("type_id") == "configurable":
            links = (doc.get("extension_attributes") or {}).get("configurable_product_links") or []
            children = [docs[i] for i in links if i in docs]
            if not children:
                continue
            item = CatalogProduct(
                doc["id"], doc["sku"], doc["name"], Decimal(str(children[0]["price"])), tax_class, weight
            )
            item.children = [(c["id"], c["sku"], c["name"], 0) for c in children]
            catalog.append(item)
        elif doc.get("type_id") == "simple" and doc.get("visibility", 4) != 1 and doc.get("price"):
            catalog.append(
                CatalogProduct(doc["id"], doc["sku"], doc["name"], Decimal(str(doc["price"])), tax_class, weight)
            )
    return catalog


def _address(rng, regime, customer, address_type, entity_id, order_id, email):
    first, last = customer["firstname"], customer["lastname"]
    source = customer.get("addresses", [{}])[0] if customer.get("addresses") else None
    fields = (
        {k: source[k] for k in ("street", "city", "postcode", "country_id", "telephone", "firstname", "lastname")}
        if source
        else address_fields(rng, regime, first, last)
    )
    address = {"address_type": address_type, **fields, "email": email, "entity_id": entity_id, "parent_id": order_id}
    if regime.region:
        address.update(regime.region)
    if source and source.get("id"):
        address["customer_address_id"] = source["id"]
    return dict(sorted(address.items()))


def _item(*, spec, qty, amounts, base, rate_info, discount_percent, item_id, order_id, stamp, view_id, product_type):
    """An order row in both currencies (parent or simple row; children are derived from it)."""
    item = {"amount_refunded": 0, "base_amount_refunded": 0}
    for prefix, a in (("base_", base), ("", amounts)):
        item.update(
            {
                f"{prefix}discount_amount": money(a.discount),
                f"{prefix}discount_invoiced": 0,
                f"{prefix}discount_tax_compensation_amount": money(a.compensation),
                f"{prefix}original_price": money(a.price),
                f"{prefix}price": money(a.price),
                f"{prefix}price_incl_tax": money(a.price_incl_tax),
                f"{prefix}row_invoiced": 0,
                f"{prefix}row_total": money(a.row_total),
                f"{prefix}row_total_incl_tax": money(a.row_total_incl_tax),
                f"{prefix}tax_amount": money(a.tax),
                f"{prefix}tax_invoiced": 0,
            }
        )
    item.update(
        {
            "applied_rule_ids": "1" if discount_percent else "",
            "created_at": stamp,
            "discount_percent": money(discount_percent),
            "free_shipping": 0,
            "is_qty_decimal": 0,
            "is_virtual": 0,
            "item_id": item_id,
            "name": spec["name"],
            "no_discount": 0,
            "order_id": order_id,
            "product_id": spec["product_id"],
            "product_type": product_type,
            "qty_canceled": 0,
            "qty_invoiced": 0,
            "qty_ordered": qty,
            "qty_refunded": 0,
            "qty_shipped": 0,
            "quote_item_id": item_id,
            "row_weight": money(spec["weight"] * qty),
            "sku": spec["sku"],
            "store_id": view_id,
            "tax_percent": money(rate_info.percent),
            "updated_at": stamp,
            "weight": money(spec["weight"]),
        }
    )
    return dict(sorted(item.items()))


def _child_item(parent: dict, *, child, item_id: int) -> dict:
    child_id, sku, name, _ = child
    row = {key: (0 if isinstance(value, int | float) and key not in _KEEP else value) for key, value in parent.items()}
    row.update(
        {
            "item_id": item_id,
            "quote_item_id": item_id,
            "name": name,
            "product_id": child_id,
            "product_type": "simple",
            "sku": sku,
            "parent_item_id": parent["item_id"],
            "parent_item": dict(parent),
        }
    )
    return row


_KEEP = {"order_id", "qty_ordered", "store_id", "weight", "row_weight", "is_virtual", "free_shipping", "is_qty_decimal"}


class OrderBuilder:
    def __init__(self, *, store, rng, regime, catalog, ids, views):
        self.store, self.rng, self.regime, self.catalog, self.ids, self.views = store, rng, regime, catalog, ids, views
        self.inclusive = store.prices_include_tax

    def lines(self, order: dict, *, count: int, discount: Decimal, rate: Decimal, stamp: str) -> list[dict]:
        """`count` random catalog rows for `order` (and their tax rows), appended to its items."""
        return self.add_lines(order, self.pick_lines(count), discount=discount, rate=rate, stamp=stamp)

    def pick_lines(self, count: int) -> list[tuple[CatalogProduct, int, tuple | None]]:
        """Random (product, quantity, configurable child or None) picks from the catalog."""
        picks = []
        for product in self.rng.sample(self.catalog, min(count, len(self.catalog))):
            qty = self.rng.choice((1, 1, 1, 2, 2, 3, 4))
            child = self.rng.choice(product.children) if product.children else None
            picks.append((product, qty, child))
        return picks

    def add_lines(self, order: dict, picks, *, discount: Decimal, rate: Decimal, stamp: str) -> list[dict]:
        """Rows for (product, quantity, child) picks, appended to `order`'s items with their tax rows."""
        rows = []
        for product, qty, child in picks:
            tax = self.regime.rates.get(product.tax_class_id) or next(iter(self.regime.rates.values()))
            base = row_amounts(
                unit_price=product.price,
                qty=qty,
                tax_percent=tax.percent,
                discount_percent=discount,
                inclusive=self.inclusive,
            )
            amounts = row_amounts(
                unit_price=convert(product.price, rate),
                qty=qty,
                tax_percent=tax.percent,
                discount_percent=discount,
                inclusive=self.inclusive,
            )
            spec = {
                "name": product.name,
                "product_id": product.product_id,
                "sku": child[1] if child else product.sku,
                "weight": product.weight,
            }
            parent = _item(
                spec=spec,
                qty=qty,
                amounts=amounts,
                base=base,
                rate_info=tax,
                discount_percent=discount,
                item_id=self.ids.take("order_item"),
                order_id=order["entity_id"],
                stamp=stamp,
                view_id=order["store_id"],
                product_type="configurable" if child else "simple",
            )
            if child:
                parent["product_option"] = {
                    "extension_attributes": {
                        "configurable_item_options": [{"option_id": "144", "option_value": child[3]}]
                    }
                }
            rows.append(parent)
            order["_taxes"].append((parent["item_id"], tax, amounts.tax, base.tax))
            if child:
                rows.append(_child_item(parent, child=child, item_id=self.ids.take("order_item")))
        order["items"].extend(rows)
        return rows

    def summarise(self, order: dict) -> None:
        """Header totals from the rows and shipping (both currencies), and the applied tax breakdown."""
        parents = [item for item in order["items"] if not documents.is_child(item)]
        for prefix in ("base_", ""):
            subtotal = sum((documents.d(i[prefix + "row_total"]) for i in parents), ZERO)
            subtotal_incl = sum((documents.d(i[prefix + "row_total_incl_tax"]) for i in parents), ZERO)
            discount = -sum((documents.d(i[prefix + "discount_amount"]) for i in parents), ZERO)
            compensation = sum((documents.d(i[prefix + "discount_tax_compensation_amount"]) for i in parents), ZERO)
            item_tax = sum((documents.d(i[prefix + "tax_amount"]) for i in parents), ZERO)
            shipping = documents.d(order[prefix + "shipping_amount"])
            tax = item_tax + documents.d(order[prefix + "shipping_tax_amount"])
            total = grand_total(
                subtotal=subtotal, shipping=shipping, discount=discount, tax=tax, compensation=compensation
            )
            order.update(
                {
                    prefix + "subtotal": money(subtotal),
                    prefix + "subtotal_incl_tax": money(subtotal_incl),
                    prefix + "discount_amount": money(discount),
                    prefix + "discount_tax_compensation_amount": money(compensation),
                    prefix + "tax_amount": money(tax),
                    prefix + "grand_total": money(total),
                    prefix + "total_due": money(total - documents.d(order.get(prefix + "total_paid"))),
                }
            )
        order["total_qty_ordered"] = money(sum((documents.d(i["qty_ordered"]) for i in parents), ZERO))
        order["total_item_count"] = len(parents)
        order["weight"] = money(sum((documents.d(i["row_weight"]) for i in parents), ZERO))
        applied, per_item = {}, []
        for item_id, tax, amount, base_amount in order["_taxes"]:
            entry = applied.setdefault(tax.code, [tax, ZERO, ZERO])
            entry[1] += amount
            entry[2] += base_amount
            per_item.append(
                {
                    "type": "product",
                    "item_id": item_id,
                    "associated_item_id": None,
                    "applied_taxes": [_applied(tax, amount, base_amount)],
                }
            )
        ship_rate = self.regime.shipping_rate
        ship_tax = documents.d(order["shipping_tax_amount"])
        if documents.d(order["shipping_amount"]):
            entry = applied.setdefault(ship_rate.code, [ship_rate, ZERO, ZERO])
            entry[1] += ship_tax
            entry[2] += documents.d(order["base_shipping_tax_amount"])
            per_item.append(
                {
                    "type": "shipping",
                    "item_id": None,
                    "associated_item_id": None,
                    "applied_taxes": [_applied(ship_rate, ship_tax, documents.d(order["base_shipping_tax_amount"]))],
                }
            )
        extension = order["extension_attributes"]
        extension["applied_taxes"] = [_applied(t, a, b) for t, a, b in applied.values()]
        extension["item_applied_taxes"] = per_item
        documents.order_sync_shipping_items(order)

    def build(self, *, customer: dict, guest: bool, when, currency: str, view) -> dict:
        """A random new order of `customer`: coupon, shipping, payment and lines drawn from the seed."""
        rng = self.rng
        coupon = rng.choice(COUPONS) if rng.random() < 0.3 else None
        shipping = rng.choice(SHIPPING)
        payment = rng.choice(PAYMENTS)
        picks = self.pick_lines(rng.choice((1, 1, 2, 2, 3, 3, 4, 5)))
        return self.compose(
            customer=customer,
            guest=guest,
            when=when,
            currency=currency,
            view=view,
            coupon=coupon,
            shipping=shipping,
            payment=payment,
            picks=picks,
        )

    def compose(self, *, customer, guest, when, currency, view, coupon, shipping, payment, picks, rate=None) -> dict:
        """A new order from explicit choices: coupon (code, percent) or None, shipping (method, title, price),
        payment (method, additional information, card last4), picks [(product, qty, child)]; `rate` is the
        base_to_order_rate (default: the simulator's rate between the two currencies)."""
        rng, store = self.rng, self.store
        entity_id = self.ids.take(ORDER)
        stamp = magento_datetime(when)
        rate = base_to_order_rate(store.base_currency, currency) if rate is None else rate
        discount = coupon[1] if coupon else Decimal(0)
        method, title, ship_price = shipping
        payment_method, info, last4 = payment
        email = customer["email"]
        order = {
            "_taxes": [],
            "entity_id": entity_id,
            "increment_id": increment_id(entity_id, "2" if view.magento_id == 2 else ""),
            "items": [],
            "extension_attributes": {},
            "store_id": view.magento_id,
        }
        ship_base = shipping_amounts(
            price=ship_price, tax_percent=self.regime.shipping_rate.percent, inclusive=self.inclusive
        )
        ship = shipping_amounts(
            price=convert(ship_price, rate), tax_percent=self.regime.shipping_rate.percent, inclusive=self.inclusive
        )
        for prefix, s in (("base_", ship_base), ("", ship)):
            order.update(
                {
                    prefix + "shipping_amount": money(s.amount),
                    prefix + "shipping_tax_amount": money(s.tax),
                    prefix + "shipping_incl_tax": money(s.incl_tax),
                    prefix + "shipping_discount_amount": 0,
                    prefix + "shipping_discount_tax_compensation_amnt": 0,
                    prefix + "total_paid": 0,
                }
            )
        self.add_lines(order, picks, discount=discount, rate=rate, stamp=stamp)
        billing_id, shipping_id = self.ids.take("order_address"), self.ids.take("order_address")
        order.update(
            {
                "applied_rule_ids": "1" if coupon else "",
                "base_currency_code": store.base_currency,
                "base_to_global_rate": 1,
                "base_to_order_rate": money(rate),
                "billing_address_id": billing_id,
                "created_at": stamp,
                "customer_email": email,
                "customer_firstname": customer["firstname"],
                "customer_group_id": 0 if guest else customer["group_id"],
                "customer_is_guest": 1 if guest else 0,
                "customer_lastname": customer["lastname"],
                "customer_note_notify": 1,
                "email_sent": 1,
                "global_currency_code": store.base_currency,
                "is_virtual": 0,
                "order_currency_code": currency,
                "protect_code": f"{rng.getrandbits(24):06x}",
                "quote_id": entity_id + 1000,
                "remote_ip": f"203.0.113.{rng.randint(1, 254)}",
                "shipping_description": title,
                "state": "new",
                "status": "pending",
                "store_currency_code": store.base_currency,
                "store_name": f"Main Website\nMain Website Store\n{view.name}",
                "store_to_base_rate": 0,
                "store_to_order_rate": 0,
                "updated_at": stamp,
            }
        )
        if not guest:
            order["customer_id"] = customer["id"]
        if coupon:
            order.update({"coupon_code": coupon[0], "discount_description": coupon[0]})
        billing = _address(rng, self.regime, customer, "billing", billing_id, entity_id, email)
        shipping_address = _address(rng, self.regime, customer, "shipping", shipping_id, entity_id, email)
        order["billing_address"] = billing
        order["payment"] = {
            "account_status": None,
            "additional_information": info,
            "amount_ordered": 0,
            "base_amount_ordered": 0,
            "base_shipping_amount": order["base_shipping_amount"],
            "cc_last4": last4,
            "entity_id": entity_id,
            "method": payment_method,
            "parent_id": entity_id,
            "shipping_amount": order["shipping_amount"],
        }
        if last4:
            order["payment"].update({"cc_type": "VI", "last_trans_id": f"txn{entity_id:08d}"})
        order["status_histories"] = []
        order["extension_attributes"] = {
            "shipping_assignments": [
                {
                    "shipping": {
                        "address": shipping_address,
                        "method": method,
                        "total": {
                            "base_shipping_amount": order["base_shipping_amount"],
                            "base_shipping_discount_amount": 0,
                            "base_shipping_incl_tax": order["base_shipping_incl_tax"],
                            "base_shipping_tax_amount": order["base_shipping_tax_amount"],
                            "shipping_amount": order["shipping_amount"],
                            "shipping_discount_amount": 0,
                            "shipping_discount_tax_compensation_amount": 0,
                            "shipping_incl_tax": order["shipping_incl_tax"],
                            "shipping_tax_amount": order["shipping_tax_amount"],
                        },
                    },
                    "items": [],
                }
            ],
            "payment_additional_info": [{"key": "method_title", "value": info[0]}],
            "converting_from_quote": False,
        }
        self.summarise(order)
        order["payment"]["amount_ordered"] = order["grand_total"]
        order["payment"]["base_amount_ordered"] = order["base_grand_total"]
        return order

    def history(self, order: dict, comment: str, stamp: str, *, entity_name="order", notified=0) -> None:
        entry = {
            "comment": comment,
            "created_at": stamp,
            "entity_id": self.ids.take("status_history"),
            "entity_name": entity_name,
            "is_customer_notified": notified,
            "is_visible_on_front": 0,
            "parent_id": order["entity_id"],
            "status": order["status"],
        }
        order["status_histories"].insert(0, entry)


def _applied(tax, amount, base_amount) -> dict:
    return {
        "code": tax.code,
        "title": tax.title,
        "percent": money(tax.percent),
        "amount": money(amount),
        "base_amount": money(base_amount),
    }


def order_finish(order: dict) -> dict:
    """Magento's key order: header fields alphabetically, then the nested parts."""
    order.pop("_taxes", None)
    nested = ("items", "billing_address", "payment", "status_histories", "extension_attributes")
    header = {k: v for k, v in sorted(order.items()) if k not in nested}
    return {**header, **{k: order[k] for k in nested}}


def _play_scenario(builder: OrderBuilder, order: dict, scenario: str, when, out: dict) -> None:
    """Move a new order through its life: invoice, ship, refund, cancel, hold or edit after invoicing."""
    rng, ids = builder.rng, builder.ids
    if scenario == "pending":
        return
    if scenario == "canceled":
        documents.order_apply_cancel(order, updated_at=magento_datetime(when + timedelta(hours=rng.randint(1, 72))))
        return
    if scenario == "holded":
        order["hold_before_state"], order["hold_before_status"] = "new", "pending"
        order["state"], order["status"] = "holded", "holded"
        order["updated_at"] = magento_datetime(when + timedelta(hours=rng.randint(1, 48)))
        builder.history(order, "Awaiting stock confirmation.", order["updated_at"])
        return
    moment = when + timedelta(minutes=rng.randint(2, 2880))
    invoice_id = ids.take(INVOICE)
    invoice = documents.invoice_build(
        order=order,
        qtys={i["item_id"]: documents.d(i["qty_ordered"]) for i in order["items"] if not documents.is_child(i)},
        entity_id=invoice_id,
        increment_id=increment_id(invoice_id, "2" if order["store_id"] == 2 else ""),
        first_item_id=ids.take("invoice_item"),
        created_at=magento_datetime(moment),
    )
    ids.values["invoice_item"] = invoice["items"][-1]["entity_id"]
    documents.order_apply_invoice(order, invoice, updated_at=invoice["created_at"])
    out["invoices"].append(invoice)
    if scenario in ("complete", "refund_full", "refund_partial") and rng.random() < 0.8:
        moment += timedelta(hours=rng.randint(2, 72))
        for item in order["items"]:
            item["qty_shipped"] = item["qty_ordered"]
        order["state"], order["status"] = "complete", "complete"
        order["updated_at"] = magento_datetime(moment)
        documents.order_sync_shipping_items(order)
    if scenario == "edited_after_invoice":
        moment += timedelta(hours=rng.randint(1, 240))
        stamp = magento_datetime(moment)
        rate = documents.d(order["base_to_order_rate"])
        discount = documents.d(order["items"][0]["discount_percent"])
        builder.lines(order, count=1, discount=discount, rate=rate, stamp=stamp)
        builder.summarise(order)
        order["updated_at"] = stamp
        builder.history(order, "Order edited: an item was added after invoicing.", stamp)
        return
    if scenario in ("refund_full", "refund_partial"):
        moment += timedelta(days=rng.randint(1, 20))
        parents = [i for i in order["items"] if not documents.is_child(i)]
        if scenario == "refund_full":
            qtys = {i["item_id"]: documents.d(i["qty_ordered"]) for i in parents}
            positive, negative, ship = Decimal(0), Decimal(0), True
        else:
            pick = rng.choice(parents)
            qtys = {pick["item_id"]: Decimal(rng.randint(1, int(documents.d(pick["qty_ordered"]))))}
            fee = rng.random()
            negative = Decimal("5.00") if fee < 0.3 else Decimal(0)
            positive = Decimal("2.50") if 0.3 <= fee < 0.45 else Decimal(0)
            ship = False
        memo_id = ids.take(CREDITMEMO)
        memo = documents.creditmemo_build(
            order=order,
            qtys=qtys,
            entity_id=memo_id,
            increment_id=increment_id(memo_id, "2" if order["store_id"] == 2 else ""),
            first_item_id=ids.take("creditmemo_item"),
            created_at=magento_datetime(moment),
            refund_shipping=ship,
            adjustment_positive=positive,
            adjustment_negative=negative,
            invoice_id=invoice_id,
        )
        ids.values["creditmemo_item"] = (
            memo["items"][-1]["entity_id"] if memo["items"] else ids.values["creditmemo_item"]
        )
        documents.order_apply_creditmemo(order, memo, updated_at=memo["created_at"])
        builder.history(
            order,
            f"We refunded {order['order_currency_code']} {documents.d(memo['grand_total']):.2f} offline.",
            memo["created_at"],
            entity_name="creditmemo",
        )
        out["creditmemos"].append(memo)


def _bulk(store: Store, kind: str, docs, sku_of=None) -> int:
    rows = [
        record_build(store=store, kind=kind, document=doc, **({"sku": sku_of(doc)} if sku_of else {})) for doc in docs
    ]
    # COPY: tens of thousands of JSON documents cost seconds, not minutes (core.bulk).
    return rows_insert(type(rows[0]), rows) if rows else 0


@transaction.atomic
def generate(*, account: str, seed: int, customers: int, orders: int, **options) -> dict:
    """Generate native records into the store `account` (created if missing); returns counts per kind.

    Options: tax_inclusive (bool) and currency (base currency) for a store created here; days (default 120) and
    end (aware datetime, default now) place the orders in time; guest_share (0.15) and foreign_share (0.15);
    foreign_currencies (codes to draw order currencies from).
    """
    from sandbox.magento.services import store_create

    if not Store.objects.filter(code=account).exists():
        store_create(
            code=account, tax_inclusive=bool(options.get("tax_inclusive")), currency=options.get("currency", "USD")
        )
    store = Store.objects.select_for_update().get(code=account)
    rng = random.Random(f"magento:{seed}")  # same seed, same records, whatever the store
    regime = regime_for(store.base_currency)
    end = options.get("end") or timezone.now().replace(microsecond=0)
    days = int(options.get("days", 120))
    ids = StoreIds(store)
    views = list(store.views.order_by("magento_id"))
    counts = {"products": 0, "stock_items": 0, "customers": 0, "orders": 0, "invoices": 0, "creditmemos": 0}

    catalog = catalog_from_store(store)
    if not catalog:
        product_docs, stock_docs, catalog = build_catalog(
            rng=rng, regime=regime, first_id=ids.values[PRODUCT] + 1, when=end - timedelta(days=days + 30)
        )
        ids.values[PRODUCT] += len(product_docs)
        counts["products"] = _bulk(store, PRODUCT, product_docs)
        sku_by_doc = {id(doc): sku for sku, doc in stock_docs}
        counts["stock_items"] = _bulk(store, STOCK_ITEM, [doc for _, doc in stock_docs], lambda d: sku_by_doc[id(d)])

    names = name_pool(rng, max(2, int(customers * 0.7)))
    customer_docs = []
    for index, when in enumerate(spread(rng, customers, end - timedelta(days=days // 2), days)):
        first, last = rng.choice(names)
        customer_id = ids.take(CUSTOMER)
        email = f"{first}.{last}.{customer_id}@{rng.choice(('example.com', 'example.org', 'example.net'))}".lower()
        view = views[1] if len(views) > 1 and index % 7 == 6 else views[0]
        customer_docs.append(
            customer_document(
                rng=rng,
                regime=regime,
                customer_id=customer_id,
                address_id=ids.take("customer_address"),
                first=first,
                last=last,
                email=email,
                when=when,
                view=view,
            )
        )
    counts["customers"] = _bulk(store, CUSTOMER, customer_docs)
    known = customer_docs or [c.as_dict() for c in Customer.objects.filter(store=store)[:5000]]

    foreign = [
        c for c in options.get("foreign_currencies", ("USD", "EUR", "GBP", "NZD", "AUD")) if c != store.base_currency
    ]
    builder = OrderBuilder(store=store, rng=rng, regime=regime, catalog=catalog, ids=ids, views=views)
    scenario_names = [name for name, _ in SCENARIOS]
    weights = [weight for _, weight in SCENARIOS]
    guest_share, foreign_share = float(options.get("guest_share", 0.15)), float(options.get("foreign_share", 0.15))
    out = {"orders": [], "invoices": [], "creditmemos": []}
    for when in spread(rng, orders, end, days):
        guest = not known or rng.random() < guest_share
        if guest:
            first, last = rng.choice(names)
            customer = {
                "email": f"{first}.{last}.guest{rng.randint(1, 10**6)}@example.net".lower(),
                "firstname": first,
                "lastname": last,
                "group_id": 0,
            }
        else:
            customer = rng.choice(known)
        currency = rng.choice(foreign) if foreign and rng.random() < foreign_share else store.base_currency
        view = views[1] if len(views) > 1 and customer.get("store_id") == 2 else views[0]
        order = builder.build(customer=customer, guest=guest, when=when, currency=currency, view=view)
        scenario = rng.choices(scenario_names, weights)[0]
        _play_scenario(builder, order, scenario, when, out)
        out["orders"].append(order_finish(order))
    counts["orders"] = _bulk(store, ORDER, out["orders"])
    counts["invoices"] = _bulk(store, INVOICE, out["invoices"])
    counts["creditmemos"] = _bulk(store, CREDITMEMO, out["creditmemos"])
    ids.save()
    return counts
