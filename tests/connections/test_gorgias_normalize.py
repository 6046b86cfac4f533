"""Gorgias customers and the shop orders inside them normalise to canonical records that add up."""

import json
from decimal import Decimal

import pytest
from django.conf import settings

from connections.canonical import LineKind, fingerprint
from connections.providers.gorgias.normalize import normalize_customer, normalize_order, normalize_refund, tax_key
from sandbox.gorgias.generator import generate
from sandbox.gorgias.models import GorgiasRecord
from sandbox.gorgias.services import account_ensure

DOCUMENTED = json.loads((settings.SHARED_DIR / "research" / "payloads" / "gorgias_customer.json").read_text())


def test_the_documented_customer_and_its_order():
    customer = DOCUMENTED["customer"]
    contact = normalize_customer(customer)
    assert (contact.source_id, contact.name, contact.email) == ("3924", "John Doe", "john@example.com")
    assert contact.updated_at.isoformat() == "2019-04-13T03:27:56.973873+00:00"
    native = customer["integrations"]["6"]["orders"][0]
    context = {"customer": {k: customer[k] for k in ("id", "email", "name", "firstname", "lastname")}}
    order = normalize_order({**native, "_context": context})
    assert order.source_id == "3924:772803526679" and order.currency == "USD" and not order.tax_inclusive
    assert order.created_at.isoformat() == "2018-12-04T11:29:37+00:00"
    line = order.lines[0]
    assert (line.sku, line.total, line.tax) == ("0987654321", Decimal("0.10"), Decimal("0.02"))
    assert (line.tax_key.code, line.tax_key.percent) == ("TVA 20%", Decimal("20"))
    assert order.grand_total == Decimal("0.12") and order.unexplained_difference() == 0
    assert order.contact.source_id == "3924"


def test_tax_keys_name_title_and_rate():
    assert tax_key([]).code == "rate:0"
    assert tax_key([{"rate": 0.0825, "title": "State Tax", "price": "1.00"}]).code == "State Tax 8.25%"
    both = tax_key([{"rate": 0.05, "title": "GST"}, {"rate": 0.09975, "title": "QST"}])
    assert both.code == "GST 5%+QST 9.975%" and both.percent == Decimal("14.975")


@pytest.mark.django_db
@pytest.mark.parametrize("seed", [3, 17, 42])
def test_every_generated_order_and_refund_adds_up(seed):
    account = account_ensure(domain=f"norm-g-{seed}")
    generate(account=account.domain, seed=seed, customers=40, orders=160)
    seen, refunds = set(), 0
    for body in GorgiasRecord.objects.filter(account=account, kind=GorgiasRecord.Kind.CUSTOMER).values_list(
        "body", flat=True
    ):
        customer = json.loads(body)
        normalize_customer(customer)
        for integration_id, data in customer["integrations"].items():
            for native in data["orders"]:
                context = {
                    "customer": {k: customer[k] for k in ("id", "email", "name")},
                    "integration_id": integration_id,
                }
                order = normalize_order({**native, "_context": context})
                assert order.unexplained_difference() == 0, order.number
                assert fingerprint(order) == fingerprint(normalize_order({**native, "_context": context}))
                seen.add("inclusive" if order.tax_inclusive else "exclusive")
                seen.add(order.currency)
                seen.update(["discount"] if order.discount_total else [])
                seen.update(["shipping"] if any(x.kind == LineKind.SHIPPING for x in order.lines) else [])
                seen.update(["cancelled"] if order.is_cancelled else [])
                for refund_native in native["refunds"]:
                    refund = normalize_refund({**refund_native, "_context": {**context, "order": native}})
                    parts = sum((x.amount for x in refund.lines), Decimal(0)) + refund.shipping
                    parts += refund.adjustment - refund.fee
                    if not order.tax_inclusive:
                        parts += sum((x.tax for x in refund.lines), Decimal(0))
                        if refund.shipping:
                            parts += sum((x.tax for x in order.lines if x.kind == LineKind.SHIPPING), Decimal(0))
                    assert refund.total == parts, refund.number
                    assert refund.total == Decimal(refund_native["transactions"][0]["amount"])
                    assert refund.order_source_id == order.source_id
                    # The generated refunds return whole lines (and shipping in full): nothing is left unexplained.
                    assert not refund.adjustment and not refund.fee
                    seen.update(["refunded shipping"] if refund.shipping else [])
                    refunds += 1
    assert (
        refunds and {"inclusive", "exclusive", "discount", "shipping", "cancelled", "EUR", "refunded shipping"} <= seen
    )
