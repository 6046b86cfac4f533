"""Chosen orders in a simulated store: the exact lines, coupon, shipping and currency a scenario names.

The generator draws its orders at random; a scenario (seven lines with a configurable product and two tax rates, a
foreign-currency order, a line added after invoicing) needs exact ones. These build them with the generator's own
arithmetic (sandbox.magento.totals: rows, tax, discount and grand totals to the cent in both currencies, configurable
parent + child rows, applied taxes) from products of the store's catalog, and store them like any loaded record, so
the REST API answers them and invoices, credit memos and cancellations (sandbox.magento.services) work on them.
"""

import random
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from sandbox.magento import documents
from sandbox.magento.catalog import TaxRate, regime_for
from sandbox.magento.formats import magento_datetime
from sandbox.magento.generator import PAYMENTS, SHIPPING, OrderBuilder, StoreIds, catalog_from_store, order_finish
from sandbox.magento.models import Customer, Store
from sandbox.magento.models import Order as OrderRow
from sandbox.magento.records import ORDER, record_save, record_update


@dataclass(frozen=True)
class ChosenLine:
    """A product of the store's catalog and its quantity; a configurable product names its child (by SKU)."""

    sku: str
    qty: int = 1
    child_sku: str = ""


def _builder(store: Store, ids: StoreIds) -> OrderBuilder:
    catalog = catalog_from_store(store)
    if not catalog:
        raise ValueError(f"store {store.code!r} has no catalog: generate one first (sandbox_magento_generate)")
    # Only the addresses of guests are drawn at random; seeded by the order, so a chosen order is reproducible.
    rng = random.Random(f"chosen:{store.code}:{ids.values[ORDER] + 1}")
    views = list(store.views.order_by("magento_id"))
    return OrderBuilder(
        store=store, rng=rng, regime=regime_for(store.base_currency), catalog=catalog, ids=ids, views=views
    )


def _picks(builder: OrderBuilder, lines) -> list:
    by_sku = {product.sku: product for product in builder.catalog}
    picks = []
    for line in lines:
        product = by_sku.get(line.sku)
        if product is None:
            raise ValueError(f"no product {line.sku!r} in the catalog of store {builder.store.code!r}")
        child = None
        if product.children:
            matching = [c for c in product.children if c[1] == line.child_sku] if line.child_sku else product.children
            if not matching:
                raise ValueError(f"configurable product {line.sku!r} has no child {line.child_sku!r}")
            child = matching[0]
        elif line.child_sku:
            raise ValueError(f"product {line.sku!r} is not configurable")
        picks.append((product, int(line.qty), child))
    return picks


def _option(options, key: str, what: str):
    for option in options:
        if option[0] == key:
            return option
    raise ValueError(f"unknown {what} {key!r}; one of {', '.join(o[0] for o in options)}")


@transaction.atomic
def order_create(
    *,
    account: str,
    lines: list[ChosenLine],
    customer_id: int | None = None,
    guest_email: str = "",
    currency: str = "",
    rate: Decimal | None = None,
    coupon: tuple[str, Decimal] | None = None,
    shipping: str = "flatrate_flatrate",
    payment: str = "checkmo",
    when=None,
) -> dict:
    """Store a new order (state new, nothing invoiced) of a customer of the store, or of a guest; returns it.

    `currency` is the order currency (default the store's base currency) and `rate` its base_to_order_rate
    (default the simulator's rate); `coupon` is (code, percent off every row); `shipping` a method code of the
    generator's SHIPPING and `payment` a method of its PAYMENTS.
    """
    store = Store.objects.select_for_update().get(code=account)
    if not lines:
        raise ValueError("an order needs at least one line")
    if customer_id is not None:
        row = Customer.objects.filter(store=store, entity_id=customer_id).first()
        if row is None:
            raise ValueError(f"no customer {customer_id} in store {account!r}")
        customer, guest = row.as_dict(), False
    elif guest_email:
        name = guest_email.split("@")[0].split(".")
        customer = {"email": guest_email, "firstname": name[0].title(), "lastname": name[-1].title(), "group_id": 0}
        guest = True
    else:
        raise ValueError("name a customer_id or a guest_email")
    ids = StoreIds(store)
    builder = _builder(store, ids)
    views = builder.views
    view = next((v for v in views if v.magento_id == customer.get("store_id")), views[0])
    order = builder.compose(
        customer=customer,
        guest=guest,
        when=when or timezone.now().replace(microsecond=0),
        currency=currency or store.base_currency,
        view=view,
        coupon=coupon,
        shipping=_option(SHIPPING, shipping, "shipping method"),
        payment=_option(PAYMENTS, payment, "payment method"),
        picks=_picks(builder, lines),
        rate=rate,
    )
    order = order_finish(order)
    record_save(store=store, kind=ORDER, document=order)
    ids.save()
    return order


def _applied_taxes(order: dict) -> list:
    """The builder's running tax rows (item id, rate, amount, base amount) rebuilt from a stored order."""
    rows = []
    for entry in order.get("extension_attributes", {}).get("item_applied_taxes") or []:
        if entry.get("type") != "product":
            continue
        tax = entry["applied_taxes"][0]
        rate = TaxRate(tax["code"], tax["title"], documents.d(tax["percent"]))
        rows.append((entry["item_id"], rate, documents.d(tax["amount"]), documents.d(tax["base_amount"])))
    return rows


@transaction.atomic
def order_lines_add(*, account: str, order_id: int, lines: list[ChosenLine], when=None) -> dict:
    """Edit an order: add rows (at its coupon's percent and its rate), totals and updated_at follow; returns it.

    What the generator's "edited after invoicing" orders are: the grand total moves past what was invoiced.
    """
    store = Store.objects.select_for_update().get(code=account)
    row = OrderRow.objects.select_for_update().filter(store=store, entity_id=order_id).first()
    if row is None:
        raise ValueError(f"no order {order_id} in store {account!r}")
    order = row.as_dict()
    ids = StoreIds(store)
    builder = _builder(store, ids)
    stamp = magento_datetime(when or timezone.now().replace(microsecond=0))
    order["_taxes"] = _applied_taxes(order)
    parents = [item for item in order["items"] if not documents.is_child(item)]
    discount = documents.d(parents[0].get("discount_percent")) if parents else Decimal(0)
    rate = documents.d(order["base_to_order_rate"])
    builder.add_lines(order, _picks(builder, lines), discount=discount, rate=rate, stamp=stamp)
    builder.summarise(order)
    order["updated_at"] = stamp
    builder.history(order, "Order edited: an item was added after invoicing.", stamp)
    record_update(row, order_finish(order))
    ids.save()
    return row.as_dict()
