"""Magento orders normalise to canonical records whose lines add up to Magento's own grand total."""

import json
from decimal import Decimal

import pytest
from django.conf import settings

from connections.canonical import LineKind, fingerprint
from connections.providers.magento.normalize import normalize_customer, normalize_order
from sandbox.magento.generator import generate
from sandbox.magento.models import Order as NativeOrder
from sandbox.magento.models import Store

PAYLOADS = settings.SHARED_DIR / "research" / "payloads"


def test_the_documented_order_normalises_exactly():
    native = json.loads((PAYLOADS / "magento_order.json").read_text())
    order = normalize_order(native)
    assert order.number == "000000003" and order.currency == "USD"
    assert order.created_at.isoformat() == "2017-08-21T22:22:19+00:00"
    products = [line for line in order.lines if line.kind == LineKind.PRODUCT]
    assert all(line.quantity * line.unit_price - line.discount == line.total for line in products)
    shipping = [line for line in order.lines if line.kind == LineKind.SHIPPING]
    assert [(s.description, s.total) for s in shipping] == [("Best Way - Table Rate", Decimal("5.00"))]
    assert order.contact.email == "jdoe@example.com" and not order.is_guest
    # The documented example is trimmed: one item of 22.00 under a header claiming 160.00 of items. Its numbers
    # don't add up, and the canonical order says by how much instead of hiding it.
    assert order.grand_total == Decimal("165.00")
    assert order.unexplained_difference() == Decimal("138.00")


def test_the_documented_customer_normalises():
    contact = normalize_customer(json.loads((PAYLOADS / "magento_customer.json").read_text()))
    assert (contact.source_id, contact.name, contact.email) == ("2", "Jane Doe", "jdoe@example.com")
    assert contact.addresses[0].city == "Purchase" and contact.addresses[0].region == "New York"


def test_configurable_children_collapse_into_their_priced_parent():
    parent = {
        "item_id": 1,
        "sku": "TEE-M",
        "name": "Tee",
        "product_type": "configurable",
        "qty_ordered": 2,
        "price": 20,
        "price_incl_tax": 22,
        "row_total": 40,
        "row_total_incl_tax": 44,
        "tax_amount": 4,
        "tax_percent": 10,
        "discount_amount": 0,
    }
    child = {
        "item_id": 2,
        "parent_item_id": 1,
        "sku": "TEE-M",
        "name": "Tee M",
        "product_type": "simple",
        "qty_ordered": 2,
        "price": 0,
        "row_total": 0,
        "tax_amount": 0,
        "discount_amount": 0,
    }
    native = {
        "entity_id": 9,
        "increment_id": "000000009",
        "items": [parent, child],
        "grand_total": 44,
        "subtotal": 40,
        "tax_amount": 4,
        "discount_amount": 0,
        "shipping_amount": 0,
        "order_currency_code": "AUD",
        "created_at": "2026-01-02 03:04:05",
        "customer_is_guest": 1,
        "customer_email": "Guest@Example.com",
    }
    order = normalize_order(native)
    assert [(line.sku, line.quantity, line.total) for line in order.lines] == [("TEE-M", 2, Decimal("40.00"))]
    assert order.lines[0].tax_key.code == "rate:10" and order.is_guest
    assert order.contact.source_id == "guest:guest@example.com"
    assert order.unexplained_difference() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("inclusive,currency", [(False, "USD"), (True, "AUD"), (False, "GBP")])
def test_every_generated_order_adds_up_to_its_grand_total(inclusive, currency):
    account = f"norm-{currency.lower()}"
    generate(account=account, seed=7, customers=30, orders=120, tax_inclusive=inclusive, currency=currency)
    store = Store.objects.get(code=account)
    checked = 0
    for native in NativeOrder.objects.filter(store=store).iterator():
        order = normalize_order(native.as_dict(), prices_include_tax=store.prices_include_tax)
        assert order.unexplained_difference() == 0, order.number
        assert fingerprint(order) == fingerprint(
            normalize_order(native.as_dict(), prices_include_tax=store.prices_include_tax)
        )
        checked += 1
    assert checked == 120


@pytest.mark.django_db
def test_canonical_records_survive_their_json_form_exactly():
    from connections.canonical import from_json, to_json

    generate(account="json-trip", seed=3, customers=10, orders=30, tax_inclusive=True, currency="AUD")
    for native in NativeOrder.objects.filter(store__code="json-trip").iterator():
        order = normalize_order(native.as_dict(), prices_include_tax=True)
        back = from_json("order", json.loads(json.dumps(to_json(order))))
        assert back == order
        assert fingerprint(back) == fingerprint(order)


def test_the_documented_order_keeps_its_version_hash():
    # Versions stored in cross-references are fingerprints: if the hash of an unchanged record moved, every
    # record would look changed and be sent to Xero again. The hash is the one dataclasses.asdict's form gave.
    from dataclasses import asdict

    from connections.canonical import to_json

    order = normalize_order(json.loads((PAYLOADS / "magento_order.json").read_text()))
    assert fingerprint(order) == "0751423509d4d79f09af7ec1a21c318a466028f52db4ac1620a911a18a517486"
    assert to_json(order) == json.loads(
        json.dumps(asdict(order), default=lambda v: format(v, "f") if isinstance(v, Decimal) else v.isoformat())
    )


@pytest.mark.parametrize(
    "text",
    [
        "2017-08-21 22:22:19",
        "2024-02-29 00:00:00",
        "2023-02-29 00:00:00",  # no such day
        "2017-08-21 24:00:00",
        "2017-8-21 22:22:19",  # strptime's own leniency
        "2017-08-21T22:22:19",
        "2017-08-21 22:22:19.5",
        "2017-08-21 22:22:1\u0669",  # a digit, but not an ASCII one
        "2017-08-21 22:22:_9",
    ],
)
def test_magento_times_read_as_strptime_reads_them(text):
    from datetime import UTC, datetime

    from connections.providers.magento.normalize import parse_time

    try:
        expected = datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        with pytest.raises(ValueError):
            parse_time(text)
    else:
        assert parse_time(text) == expected and parse_time(text).tzinfo == UTC
