"""Seeded, realistic Cin7 Core data: tax rules, customers, suppliers, products and sales with their whole life.

Same account and seed, same data (IDs are derived from both, so two accounts never share one). Sales cover what a
sync to Xero must survive: several tax rates, tax-exclusive and tax-inclusive sales, percentage discounts
(including 100 %), freight and surcharges, foreign currency with a CurrencyRate, customers sharing a name with
different emails, partial and full credit notes with refunds, voided sales, partial and full payments, and
sales edited after they were invoiced. Every amount follows `sandbox.cin7.sales` to the cent.
"""

import random
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.db import transaction

from sandbox.cin7 import documents
from sandbox.cin7.generator_sales import FX, build_sale
from sandbox.cin7.models import Cin7Record
from sandbox.cin7.sales import cents
from sandbox.cin7.services import account_resolve

Kind = Cin7Record.Kind
DEFAULT_START = datetime(2025, 1, 6, tzinfo=UTC)
# (name, percent, tax-inclusive, for sale, for purchase)
TAX_RULES = (
    ("GST on Income", 10, False, True, False),
    ("GST Free Exports", 0, False, True, False),
    ("BAS Excluded", 0, False, True, True),
    ("Reduced Rate 5%", 5, False, True, False),
    ("GST on Income (Inclusive)", 10, True, True, False),
    ("VAT 20% (Inclusive)", 20, True, True, False),
    ("Zero Rated (Inclusive)", 0, True, True, False),
    ("GST on Expenses", 10, False, False, True),
)
FIRST = ("Olivia", "Jack", "Mia", "Noah", "Ava", "Leo", "Zoe", "Liam", "Isla", "Ethan", "Ruby", "Oscar", "Chloe")
LAST = ("Smith", "Nguyen", "Brown", "Wilson", "Taylor", "Martin", "Lee", "Walker", "Khan", "Rossi", "Kelly")
COMPANY = ("Trading", "Supplies", "Outfitters", "Studio", "Co", "Pty Ltd", "Wholesale")
GOODS = ("Espresso Beans 1kg", "Ceramic Mug", "Pour-over Kettle", "Paper Filters x100", "Travel Tumbler",
         "Burr Grinder", "Milk Jug 600ml", "Tea Sampler", "Cold Brew Bottle", "Barista Apron", "Scale 0.1g",
         "Descaler Pack")  # fmt: skip


class _Ids:
    """Deterministic GUIDs per account, seed and purpose."""

    def __init__(self, account_id: str, seed: int):
        self.namespace = uuid.uuid5(uuid.NAMESPACE_URL, f"ledgerbridge-sandbox-cin7:{account_id}:{seed}")

    def __call__(self, *parts) -> str:
        return str(uuid.uuid5(self.namespace, ":".join(str(p) for p in parts)))


def _d(value) -> Decimal:
    return Decimal(str(value))


def generate(*, account: str, seed: int, customers: int, orders: int, **options) -> dict:
    """Create (or re-create, idempotently) seeded data in a Cin7 account; returns counts of what was made.

    Options: products (default 24), suppliers (3), start (datetime of the first sale, default 2025-01-06 UTC),
    days (span of sale dates, default 180).
    """
    target = account_resolve(account)
    rng = random.Random(seed)
    ids = _Ids(target.account_id, seed)
    start = options.get("start") or DEFAULT_START
    days = int(options.get("days", 180))
    counts = dict.fromkeys(
        ("invoices", "credit_notes", "payments", "refunds", "voided", "foreign_currency", "tax_inclusive"), 0
    )
    counts |= {"edited_after_invoice": 0, "duplicate_customer_names": 0}

    rules = {name: (_d(pct), inclusive) for name, pct, inclusive, _, _ in TAX_RULES}
    rule_rows = [_tax_rule(ids, *rule) for rule in TAX_RULES]
    product_list = [_product(ids, rng, n, start) for n in range(int(options.get("products", 24)))]
    supplier_rows = [_supplier(ids, rng, n, start) for n in range(int(options.get("suppliers", 3)))]
    customer_list = []
    for n in range(customers):
        duplicate = customer_list and rng.random() < 0.12
        name = rng.choice(customer_list)["Name"] if duplicate else _customer_name(rng)
        counts["duplicate_customer_names"] += bool(duplicate)
        customer_list.append(_customer(ids, rng, n, name, start))

    sale_keys = [ids("sale", n) for n in range(orders)]
    existing = Cin7Record.objects.filter(account=target, kind=Kind.SALE).exclude(key__in=sale_keys).count()
    sales = []
    step = timedelta(days=days) / max(orders, 1)
    for n in range(orders):
        when = start + step * n + timedelta(minutes=rng.randint(0, 600))
        sale = build_sale(ids, rng, n, existing + n + 1, rng.choice(customer_list), product_list, rules, when, target)
        sales.append(sale)
        scenario = sale.pop("_scenario")
        counts["invoices"] += sum(1 for i in sale["Invoices"] if i["Status"] != "VOIDED")
        counts["credit_notes"] += len(sale["CreditNotes"])
        counts["payments"] += sum(len(i["Payments"]) for i in sale["Invoices"])
        counts["refunds"] += sum(len(c["Refunds"]) for c in sale["CreditNotes"])
        counts["voided"] += scenario == "voided"
        counts["edited_after_invoice"] += scenario == "edited_after_invoice"
        counts["foreign_currency"] += sale["CustomerCurrency"] != sale["BaseCurrency"]
        counts["tax_inclusive"] += sale["TaxCalculation"] == "Inclusive"

    with transaction.atomic():
        _bulk(target, Kind.TAX_RULE, rule_rows)
        _bulk(target, Kind.PRODUCT, product_list)
        _bulk(target, Kind.SUPPLIER, supplier_rows)
        _bulk(target, Kind.CUSTOMER, customer_list)
        _bulk_sales(target, sales)
    return {
        "tax_rules": len(rule_rows),
        "products": len(product_list),
        "suppliers": len(supplier_rows),
        "customers": len(customer_list),
        "sales": len(sales),
        **counts,
    }


def _bulk(account, kind, records):
    rows = [
        Cin7Record(
            account=account,
            kind=kind,
            key=documents.guid_key(r["ID"]),
            body=documents.dumps(r),
            **documents.record_columns(kind, r),
        )
        for r in records
    ]
    Cin7Record.objects.bulk_create(
        rows,
        batch_size=500,
        update_conflicts=True,
        unique_fields=["account", "kind", "key"],
        update_fields=["body", "name", "sku", "status", "modified_at", "search", "facets"],
    )


def _bulk_sales(account, sales):
    rows = []
    for sale in sales:
        header = documents.sale_header(sale)
        credit = documents.credit_note_header(sale, header)
        row = Cin7Record(
            account=account,
            kind=Kind.SALE,
            key=documents.guid_key(sale["ID"]),
            body=documents.dumps(sale),
            header=documents.dumps(header),
            credit_header=documents.dumps(credit) if credit else "",
        )
        for field, value in documents.sale_columns(header).items():
            setattr(row, field, value)
        rows.append(row)
    Cin7Record.objects.bulk_create(
        rows,
        batch_size=500,
        update_conflicts=True,
        unique_fields=["account", "kind", "key"],
        update_fields=[
            "body",
            "header",
            "credit_header",
            "header_loaded",
            "credit_header_loaded",
            "name",
            "status",
            "modified_at",
            "created_on",
            "search",
            "facets",
        ],  # fmt: skip
    )


def _tax_rule(ids, name, percent, inclusive, for_sale, for_purchase):
    return {
        "Account": "820",
        "Components": [
            {
                "AccountCode": "820",
                "ComponentOrder": "1",
                "Compound": "0",
                "ID": ids("tax-component", name).upper(),
                "Name": "Tax",
                "Percent": f"{Decimal(percent):.10f}",
            }
        ],
        "ID": ids("tax", name),
        "IsActive": True,
        "IsTaxForPurchase": for_purchase,
        "IsTaxForSale": for_sale,
        "Name": name,
        "TaxInclusive": inclusive,
        "TaxPercent": percent,
    }


def _product(ids, rng, n, start):
    price = _d(rng.choice(("4.95", "12.50", "19.99", "3.3333", "89.00", "249.00", "7.25", "0.85", "45.60")))
    name = f"{GOODS[n % len(GOODS)]}" + (f" v{n // len(GOODS) + 1}" if n >= len(GOODS) else "")
    return {
        "ID": ids("product", n),
        "SKU": f"SKU-{n + 1:04d}",
        "Name": name,
        "Category": "Coffee gear",
        "Brand": None,
        "Type": "Service" if n % 11 == 10 else "Stock",
        "CostingMethod": "FIFO",
        "UOM": "Item",
        "Status": "Active",
        "AverageCost": cents(price / 2),
        "PriceTier1": price,
        "PriceTiers": {"Tier 1": price},
        "SaleTaxRule": "GST on Income",
        "PurchaseTaxRule": "GST on Expenses",
        "RevenueAccount": "200",
        "COGSAccount": "310",
        "InventoryAccount": "630",
        "Barcode": f"9300000{n:06d}",
        "LastModifiedOn": documents.cin7_datetime(start - timedelta(days=30, minutes=n)),
    }


def _customer_name(rng):
    if rng.random() < 0.4:
        return f"{rng.choice(LAST)} {rng.choice(COMPANY)}"
    return f"{rng.choice(FIRST)} {rng.choice(LAST)}"


def _customer(ids, rng, n, name, start):
    currency = rng.choice(tuple(FX)) if rng.random() < 0.25 else "AUD"
    inclusive = currency == "AUD" and rng.random() < 0.3
    rule = "GST Free Exports" if currency != "AUD" else ("GST on Income (Inclusive)" if inclusive else "GST on Income")
    contact = name if " " in name else f"{rng.choice(FIRST)} {rng.choice(LAST)}"
    email = f"{contact.split()[0].lower()}.{n + 1}@example-{n % 7}.test"
    return {
        "ID": ids("customer", n),
        "Name": name,
        "Status": "Active",
        "Currency": currency,
        "PaymentTerm": "30 days",
        "AccountReceivable": "610",
        "RevenueAccount": "200",
        "TaxRule": rule,
        "TaxNumber": "",
        "PriceTier": "Tier 1",
        "Discount": 0,
        "CreditLimit": 0,
        "IsOnCreditHold": False,
        "Location": "Main Warehouse",
        "Carrier": None,
        "SalesRepresentative": None,
        "Tags": "",
        "Comments": "",
        "AttributeSet": None,
        "LastModifiedOn": documents.cin7_datetime(start - timedelta(days=10, minutes=n)),
        "Addresses": [
            {
                "ID": ids("address", n),
                "Line1": f"{n + 1} Harbour St",
                "Line2": "",
                "City": "Sydney" if currency == "AUD" else "Auckland",
                "State": "NSW",
                "Postcode": "2000",
                "Country": "Australia" if currency == "AUD" else "New Zealand",
                "Type": "Billing",
                "DefaultForType": True,
            }
        ],
        "Contacts": [
            {
                "ID": ids("contact", n),
                "Name": contact,
                "Phone": f"02 9{n:07d}"[:12],
                "MobilePhone": None,
                "Email": email,
                "Fax": None,
                "Website": None,
                "JobTitle": None,
                "Default": True,
                "IncludeInEmail": True,
                "Comment": None,
            }
        ],
    }


def _supplier(ids, rng, n, start):
    return {
        "ID": ids("supplier", n),
        "Name": f"{rng.choice(LAST)} Roasters {n + 1}",
        "Status": "Active",
        "Currency": "AUD",
        "PaymentTerm": "30 days",
        "AccountPayable": "800",
        "TaxRule": "GST on Expenses",
        "TaxNumber": "",
        "Discount": 0,
        "Comments": "",
        "LastModifiedOn": documents.cin7_datetime(start - timedelta(days=20, minutes=n)),
        "Addresses": [],
        "Contacts": [],
    }
