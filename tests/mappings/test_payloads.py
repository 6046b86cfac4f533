"""Invoice, contact, payment and item payloads, sent to the Xero sandbox: Xero's totals equal the source's."""

import json
from decimal import Decimal

import pytest

from mappings.models import PostingPolicy, TaxMapping
from mappings.payloads import contact_payload, invoice_payload
from tenants.scoping import tenant_scope
from tests.mappings.conftest import connect_xero, magento_source, post_to_xero

pytestmark = pytest.mark.django_db

AU_TAX = {"AU-GST": "OUTPUT", "AU-GST-FREE": "EXEMPTOUTPUT"}


def map_au(tenant, source):
    for code, tax_type in AU_TAX.items():
        TaxMapping.objects.create(tenant=tenant, source_connection=source, tax_code=code, xero_tax_type=tax_type)
    PostingPolicy.objects.create(
        tenant=tenant,
        source_connection=source,
        sales_account_code="200",
        shipping_account_code="210",
        discount_account_code="220",
        rounding_account_code="860",
    )


def a_contact(source, xero, order) -> str:
    result = contact_payload(source_connection=source, xero_connection=xero, contact=order.contact)
    assert result.ok, result.problems
    return post_to_xero(xero, "Contacts", result.payload, unitdp=False)["ContactID"]


@pytest.mark.parametrize("inclusive,currency", [(False, "AUD"), (True, "AUD"), (False, "USD")])
def test_every_generated_order_totals_the_same_in_xero(two_tenants, inclusive, currency):
    tenant, other = two_tenants
    with tenant_scope(other):
        # Another tenant's identical mappings and organisation must not leak in.
        connect_xero(other, name=f"Other {currency}{inclusive}", country="AU")
        other_source, _ = magento_source(
            other, account=f"o{currency}{int(inclusive)}", currency="AUD", inclusive=False, orders=3
        )
        TaxMapping.objects.create(
            tenant=other, source_connection=other_source, tax_code="AU-GST", xero_tax_type="INPUT"
        )
    with tenant_scope(tenant):
        xero = connect_xero(tenant, name=f"Payload AU {currency}{inclusive}", country="AU")
        source, orders = magento_source(
            tenant, account=f"pay{currency.lower()}{int(inclusive)}", currency=currency, inclusive=inclusive
        )
        if currency == "USD":
            # A USD store feeding an AUD organisation: the store's own tax codes.
            TaxMapping.objects.create(
                tenant=tenant,
                source_connection=source,
                tax_code="US-CA-*-Rate 1",
                xero_tax_type="OUTPUT",
                rate_override=True,
            )
            for code in ("US-CA-EXEMPT", "US-CA-SHIPPING", "rate:0"):
                TaxMapping.objects.create(
                    tenant=tenant, source_connection=source, tax_code=code, xero_tax_type="EXEMPTOUTPUT"
                )
            PostingPolicy.objects.create(
                tenant=tenant,
                source_connection=source,
                sales_account_code="200",
                shipping_account_code="210",
                rounding_account_code="860",
            )
        else:
            map_au(tenant, source)
            TaxMapping.objects.create(
                tenant=tenant, source_connection=source, tax_code="rate:0", xero_tax_type="EXEMPTOUTPUT"
            )
        contact_id = a_contact(source, xero, orders[0])
        adjusted = 0
        for order in orders:
            result = invoice_payload(
                source_connection=source, xero_connection=xero, order=order, contact_xero_id=contact_id
            )
            assert result.ok, (order.number, result.problems)
            json.dumps(result.payload)  # JSON-ready as it stands
            answer = post_to_xero(xero, "Invoices", result.payload)
            assert answer["Total"] == order.grand_total, (order.number, result.explanation)
            assert answer["CurrencyCode"] == order.currency
            adjusted += any(line["line_id"] == "rounding" for line in result.explanation)
            for sent, line in zip(result.payload["LineItems"], answer["LineItems"], strict=True):
                assert Decimal(str(sent["UnitAmount"])) == line["UnitAmount"]
        if currency == "USD":
            assert adjusted == 0  # the source's tax is kept line by line, so nothing is left to adjust
