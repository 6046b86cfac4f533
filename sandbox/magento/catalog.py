"""Seeded native records for the generator: tax regimes, a product catalog with stock, and customers.

Everything is drawn from one `random.Random`, so a seed always yields the same store.
"""

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from sandbox.magento.formats import magento_datetime, money


@dataclass(frozen=True)
class TaxRate:
    code: str
    title: str
    percent: Decimal


@dataclass(frozen=True)
class Regime:
    """The tax rates of a store, by product tax class, and where its customers live."""

    country: str
    region: dict | None
    rates: dict  # tax_class_id -> TaxRate
    shipping_rate: TaxRate


def _rate(code, title, percent):
    return TaxRate(code, title, Decimal(percent))


REGIMES = {
    "AUD": Regime(
        "AU",
        {"region_code": "NSW", "region": "New South Wales", "region_id": 570},
        {2: _rate("AU-GST", "GST", "10"), 6: _rate("AU-GST-FREE", "GST Free", "0")},
        _rate("AU-GST", "GST", "10"),
    ),
    "GBP": Regime(
        "GB",
        None,
        {
            2: _rate("UK-VAT-20", "VAT", "20"),
            5: _rate("UK-VAT-5", "VAT Reduced", "5"),
            6: _rate("UK-VAT-0", "VAT Zero", "0"),
        },
        _rate("UK-VAT-20", "VAT", "20"),
    ),
    "NZD": Regime(
        "NZ",
        None,
        {2: _rate("NZ-GST", "GST", "15"), 6: _rate("NZ-GST-ZERO", "GST Zero", "0")},
        _rate("NZ-GST", "GST", "15"),
    ),
    "EUR": Regime(
        "DE",
        {"region_code": "BER", "region": "Berlin", "region_id": 82},
        {2: _rate("DE-MWST-19", "MwSt", "19"), 5: _rate("DE-MWST-7", "MwSt ermäßigt", "7")},
        _rate("DE-MWST-19", "MwSt", "19"),
    ),
}
US_REGIME = Regime(
    "US",
    {"region_code": "CA", "region": "California", "region_id": 12},
    {2: _rate("US-CA-*-Rate 1", "US-CA-*-Rate 1", "8.25"), 6: _rate("US-CA-EXEMPT", "Exempt", "0")},
    _rate("US-CA-SHIPPING", "Shipping", "0"),
)

# Units of each currency per US dollar; base_to_order_rate = per_usd[order] / per_usd[base], to four places.
PER_USD = {
    "USD": Decimal("1"),
    "AUD": Decimal("1.5283"),
    "NZD": Decimal("1.6612"),
    "GBP": Decimal("0.7891"),
    "EUR": Decimal("0.9214"),
    "CAD": Decimal("1.3642"),
}


def regime_for(currency: str) -> Regime:
    return REGIMES.get(currency, US_REGIME)


def base_to_order_rate(base: str, order: str) -> Decimal:
    return (PER_USD.get(order, Decimal(1)) / PER_USD.get(base, Decimal(1))).quantize(Decimal("0.0001"))


FIRST_NAMES = [
    "Jane",
    "John",
    "Olivia",
    "Liam",
    "Emma",
    "Noah",
    "Ava",
    "Oliver",
    "Mia",
    "Lucas",
    "Amelia",
    "Ethan",
    "Harper",
    "Mason",
    "Chloe",
    "Leo",
    "Grace",
    "Jack",
    "Ruby",
    "Henry",
    "Zoe",
    "Isla",
    "Charlie",
    "Sophie",
    "Thomas",
    "Lily",
    "James",
    "Ella",
    "William",
    "Aria",
]
LAST_NAMES = [
    "Doe",
    "Smith",
    "Nguyen",
    "Brown",
    "Wilson",
    "Taylor",
    "Martin",
    "Lee",
    "Walker",
    "Harris",
    "Clark",
    "Lewis",
    "Young",
    "King",
    "Wright",
    "Scott",
    "Green",
    "Baker",
    "Adams",
    "Hill",
    "Campbell",
    "Mitchell",
    "Roberts",
    "Carter",
    "Phillips",
]
STREETS = [
    "Oak Ave",
    "High St",
    "George St",
    "Queen St",
    "Main Rd",
    "Station Rd",
    "Park Lane",
    "Church St",
    "Victoria Rd",
    "Mill Lane",
]
CITIES = {
    "AU": ("Sydney", "2000"),
    "GB": ("London", "EC1A 1BB"),
    "NZ": ("Auckland", "1010"),
    "DE": ("Berlin", "10115"),
    "US": ("Los Angeles", "90001"),
}
DOMAINS = ("example.com", "example.org", "mail.example.net", "shop.example.com")

PRODUCT_WORDS = [
    "Radiant Tee",
    "Driven Backpack",
    "Voyage Yoga Bag",
    "Fusion Duffle",
    "Endeavor Bottle",
    "Summit Jacket",
    "Harmony Hoodie",
    "Zing Jump Rope",
    "Aim Analog Watch",
    "Sprite Stasis Ball",
    "Pursuit Lumaflex Tone Band",
    "Affirm Water Bottle",
    "Dual Handle Cardio Ball",
    "Quest Lumaflex Band",
    "Compete Track Tote",
    "Savvy Shoulder Tote",
    "Impulse Duffle",
    "Overnight Duffle",
    "Push It Messenger Bag",
    "Wayfarer Messenger Bag",
    "Rival Field Messenger",
    "Crown Summit Backpack",
    "Joust Duffle Bag",
    "Strive Shoulder Pack",
    "Clamber Watch",
    "Didi Sport Watch",
    "Luma Water Bottle",
    "Go-Get'r Pushup Grips",
    "Harmony Lumaflex Kit",
    "Sprite Yoga Strap",
    "Herbal Tea Tin",
    "Organic Oat Bars",
    "Kids Reading Book",
    "Cycling Gloves",
]
CONFIGURABLE_WORDS = [
    "Chaz Kangeroo Hoodie",
    "Teton Pullover Hoodie",
    "Bruno Compete Hoodie",
    "Frankie Sweatshirt",
    "Hollister Backyard Sweatshirt",
    "Stark Fundamental Hoodie",
    "Hero Hoodie",
    "Marco Lightweight Active Hoodie",
]
SIZES = (("S", 167), ("M", 168), ("L", 169))
COLORS = (("Black", 49), ("Blue", 50), ("Orange", 56), ("Green", 53))


@dataclass
class CatalogProduct:
    """What the order generator needs of a product: the row Magento writes into an order."""

    product_id: int
    sku: str
    name: str
    price: Decimal  # base currency; tax-inclusive when the store's prices include tax
    tax_class_id: int
    weight: Decimal
    children: list = field(default_factory=list)  # configurable: (product_id, sku, name, option_value)


def _stock_document(item_id: int, product_id: int, qty: int) -> dict:
    return {
        "item_id": item_id,
        "product_id": product_id,
        "stock_id": 1,
        "qty": qty,
        "is_in_stock": qty > 0,
        "is_qty_decimal": False,
        "show_default_notification_message": False,
        "use_config_min_qty": True,
        "min_qty": 0,
        "use_config_min_sale_qty": 1,
        "min_sale_qty": 1,
        "use_config_max_sale_qty": True,
        "max_sale_qty": 10000,
        "use_config_backorders": True,
        "backorders": 0,
        "use_config_notify_stock_qty": True,
        "notify_stock_qty": 1,
        "use_config_qty_increments": True,
        "qty_increments": 0,
        "use_config_enable_qty_inc": True,
        "enable_qty_increments": False,
        "use_config_manage_stock": True,
        "manage_stock": True,
        "low_stock_date": None,
        "is_decimal_divided": False,
        "stock_status_changed_auto": 0,
    }


def _product_document(*, product_id, sku, name, price, type_id, visibility, tax_class_id, weight, when, stock, extra):
    stamp = magento_datetime(when)
    attributes = [
        {"attribute_code": "tax_class_id", "value": str(tax_class_id)},
        {"attribute_code": "url_key", "value": sku.lower()},
        {"attribute_code": "description", "value": f"<p>{name}</p>"},
        {"attribute_code": "category_ids", "value": ["3"]},
        *extra.pop("attributes", []),
    ]
    return {
        "id": product_id,
        "sku": sku,
        "name": name,
        "attribute_set_id": 4 if type_id == "simple" else 9,
        "price": money(price),
        "status": 1,
        "visibility": visibility,
        "type_id": type_id,
        "created_at": stamp,
        "updated_at": stamp,
        "weight": money(weight),
        "extension_attributes": {
            "website_ids": [1],
            "category_links": [{"position": 0, "category_id": "3"}],
            "stock_item": stock,
            **extra,
        },
        "product_links": [],
        "options": [],
        "media_gallery_entries": [],
        "tier_prices": [],
        "custom_attributes": attributes,
    }


def _price(rng: random.Random) -> Decimal:
    whole = rng.choice((5, 9, 12, 15, 19, 24, 29, 34, 39, 45, 49, 59, 64, 79, 89, 99, 119, 149, 199, 249))
    return Decimal(whole) + rng.choice((Decimal("0.00"), Decimal("0.99"), Decimal("0.50"), Decimal("0.95")))


def build_catalog(*, rng, regime: Regime, first_id: int, when: datetime):
    """Simple and configurable products with stock items: (product documents, stock documents, CatalogProduct list)."""
    products, stocks, catalog = [], [], []
    next_id = first_id
    classes = sorted(regime.rates)
    for index, name in enumerate(PRODUCT_WORDS):
        tax_class = classes[0] if index % 4 else classes[-1] if index % 8 else classes[len(classes) // 2]
        sku = f"MS{index + 1:02d}-{name.split()[0][:3].upper()}"
        price, weight = _price(rng), Decimal(rng.randint(1, 30)) / 10
        stock = _stock_document(next_id, next_id, rng.randint(0, 500))
        products.append(
            _product_document(
                product_id=next_id,
                sku=sku,
                name=name,
                price=price,
                type_id="simple",
                visibility=4,
                tax_class_id=tax_class,
                weight=weight,
                when=when,
                stock=stock,
                extra={},
            )
        )
        stocks.append((sku, stock))
        catalog.append(CatalogProduct(next_id, sku, name, price, tax_class, weight))
        next_id += 1
    for index, name in enumerate(CONFIGURABLE_WORDS):
        parent_id, base_sku = next_id, f"MH{index + 1:02d}"
        next_id += 1
        price, weight = _price(rng), Decimal(rng.randint(5, 15)) / 10
        color, color_value = rng.choice(COLORS)
        parent = CatalogProduct(parent_id, base_sku, name, price, classes[0], weight)
        child_ids = []
        for size, size_value in SIZES:
            child_id, sku = next_id, f"{base_sku}-{size}-{color}"
            next_id += 1
            child_ids.append(child_id)
            stock = _stock_document(child_id, child_id, rng.randint(0, 200))
            products.append(
                _product_document(
                    product_id=child_id,
                    sku=sku,
                    name=f"{name}-{size}-{color}",
                    price=price,
                    type_id="simple",
                    visibility=1,
                    tax_class_id=classes[0],
                    weight=weight,
                    when=when,
                    stock=stock,
                    extra={
                        "attributes": [
                            {"attribute_code": "size", "value": str(size_value)},
                            {"attribute_code": "color", "value": str(color_value)},
                        ]
                    },
                )
            )
            stocks.append((sku, stock))
            parent.children.append((child_id, sku, f"{name}-{size}-{color}", size_value))
        stock = _stock_document(parent_id, parent_id, 0)
        stock["is_in_stock"] = True
        products.append(
            _product_document(
                product_id=parent_id,
                sku=base_sku,
                name=name,
                price=Decimal(0),
                type_id="configurable",
                visibility=4,
                tax_class_id=classes[0],
                weight=weight,
                when=when,
                stock=stock,
                extra={
                    "configurable_product_options": [
                        {
                            "id": parent_id,
                            "attribute_id": "144",
                            "label": "Size",
                            "position": 0,
                            "values": [{"value_index": value} for _, value in SIZES],
                            "product_id": parent_id,
                        }
                    ],
                    "configurable_product_links": child_ids,
                },
            )
        )
        stocks.append((base_sku, stock))
        catalog.append(parent)
    return products, stocks, catalog


def person(rng: random.Random, names: list[tuple[str, str]]) -> tuple[str, str]:
    return rng.choice(names)


def name_pool(rng: random.Random, size: int) -> list[tuple[str, str]]:
    """A pool smaller than the number of customers, so some customers share a name (with different emails)."""
    pool = {(rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)) for _ in range(max(2, size))}
    return sorted(pool)


def address_fields(rng: random.Random, regime: Regime, first: str, last: str) -> dict:
    city, postcode = CITIES[regime.country]
    return {
        "street": [f"{rng.randint(1, 999)} {rng.choice(STREETS)}"],
        "city": city,
        "postcode": postcode,
        "country_id": regime.country,
        "telephone": f"0{rng.randint(200000000, 999999999)}",
        "firstname": first,
        "lastname": last,
    }


def customer_document(*, rng, regime, customer_id, address_id, first, last, email, when, view) -> dict:
    stamp = magento_datetime(when)
    address = {"id": address_id, "customer_id": customer_id}
    if regime.region:
        address["region"] = dict(regime.region)
        address["region_id"] = regime.region["region_id"]
    else:
        address["region"] = {"region_code": None, "region": None, "region_id": 0}
        address["region_id"] = 0
    address.update(address_fields(rng, regime, first, last))
    if rng.random() < 0.2:
        address["company"] = f"{last} Trading"
    address.update({"default_shipping": True, "default_billing": True})
    return {
        "id": customer_id,
        "group_id": rng.choice((1, 1, 1, 1, 2, 3)),
        "default_billing": str(address_id),
        "default_shipping": str(address_id),
        "created_at": stamp,
        "updated_at": stamp,
        "created_in": view.name,
        "email": email,
        "firstname": first,
        "lastname": last,
        "store_id": view.magento_id,
        "website_id": view.website_id,
        "addresses": [address],
        "disable_auto_group_change": 0,
        "extension_attributes": {"is_subscribed": rng.random() < 0.3},
    }


def spread(rng: random.Random, count: int, end: datetime, days: int) -> list[datetime]:
    """`count` sorted moments in the `days` before `end`, to the second."""
    span = days * 86400
    return sorted((end - timedelta(seconds=rng.randint(0, span))).replace(microsecond=0) for _ in range(count))
