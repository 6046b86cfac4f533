"""Canonical records: what every source is normalised into before any mapping.

Adding a source means writing one normaliser to these types, not a new flow. Money is Decimal, quantised where the
source's own precision says so (unit prices keep up to 4 dp; amounts are 2 dp). Times are timezone-aware UTC.
"""

import hashlib
import json
from dataclasses import dataclass, field, fields
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

import orjson

from core import jsonfast
from core.money import from_json_number, quantize

ZERO = Decimal("0.00")


class LineKind(StrEnum):
    PRODUCT = "product"
    SHIPPING = "shipping"
    DISCOUNT = "discount"
    GIFT_CARD = "gift_card"
    SURCHARGE = "surcharge"
    ADJUSTMENT = "adjustment"


@dataclass(frozen=True)
class TaxKey:
    """How the source names a tax: the key a tenant maps to a Xero TaxType.

    `code` is the source's own identifier (a Magento applied-tax code, a Cin7 tax rule name, a partner's tax code);
    when a source gives only a rate, the code is "rate:<percent>". `percent` is the effective rate the source used.
    """

    code: str
    percent: Decimal
    label: str = ""

    @classmethod
    def from_rate(cls, percent, label: str = "") -> "TaxKey":
        percent = from_json_number(percent).normalize()
        text = format(percent, "f")
        return cls(code=f"rate:{text}", percent=percent, label=label or f"{text}%")


@dataclass(frozen=True)
class Address:
    kind: str = "billing"
    lines: tuple[str, ...] = ()
    city: str = ""
    region: str = ""
    postcode: str = ""
    country: str = ""


@dataclass(frozen=True)
class Contact:
    source_id: str
    email: str = ""
    first_name: str = ""
    last_name: str = ""
    company: str = ""
    phone: str = ""
    tax_number: str = ""
    group: str = ""
    addresses: tuple[Address, ...] = ()
    is_customer: bool = True
    is_supplier: bool = False
    is_archived: bool = False
    updated_at: datetime | None = None

    @property
    def name(self) -> str:
        """The display name Xero will see before any collision policy: company, else the person, else the email."""
        person = " ".join(part for part in (self.first_name, self.last_name) if part).strip()
        return self.company or person or self.email or f"Customer {self.source_id}"


@dataclass(frozen=True)
class OrderLine:
    """One line as the source charged it.

    `unit_price` excludes tax unless the order is tax-inclusive; `discount` is the amount taken off this line
    (positive); `total` is what the source says the line comes to (quantity × unit price − discount, in the
    order's tax basis); `tax` is the tax the source computed for the line.
    """

    line_id: str
    kind: LineKind
    description: str
    quantity: Decimal
    unit_price: Decimal
    discount: Decimal = ZERO
    tax: Decimal = ZERO
    total: Decimal = ZERO
    tax_key: TaxKey | None = None
    sku: str = ""
    product_type: str = ""
    category: str = ""


@dataclass(frozen=True)
class Order:
    source_id: str
    number: str
    currency: str
    tax_inclusive: bool
    lines: tuple[OrderLine, ...]
    subtotal: Decimal
    tax_total: Decimal
    discount_total: Decimal
    shipping_total: Decimal
    grand_total: Decimal
    status: str
    created_at: datetime
    updated_at: datetime
    contact: Contact | None = None
    is_guest: bool = False
    # Units of order currency per unit of the store's base currency, as the source recorded it.
    currency_rate: Decimal = Decimal("1")
    base_currency: str = ""
    store: str = ""
    channel: str = ""
    customer_group: str = ""
    payment_method: str = ""
    is_cancelled: bool = False
    extra: dict = field(default_factory=dict)

    def lines_total(self) -> Decimal:
        """The sum of the lines as the source states them (product, shipping, surcharges, …)."""
        return quantize(sum((line.total for line in self.lines), ZERO))

    def unexplained_difference(self) -> Decimal:
        """Grand total minus what the lines (plus tax, when prices exclude it) come to; zero for a sound order.

        A non-zero difference means the source's own numbers don't add up: such an order is held for a person
        rather than invoiced with an invented line.
        """
        computed = self.lines_total() + (ZERO if self.tax_inclusive else self.tax_total)
        return quantize(self.grand_total - computed)


@dataclass(frozen=True)
class Payment:
    source_id: str
    order_source_id: str
    amount: Decimal
    currency: str
    method: str
    paid_at: datetime
    reference: str = ""


@dataclass(frozen=True)
class RefundLine:
    line_id: str
    description: str
    quantity: Decimal
    amount: Decimal
    tax: Decimal = ZERO
    tax_key: TaxKey | None = None
    sku: str = ""


@dataclass(frozen=True)
class Refund:
    source_id: str
    order_source_id: str
    number: str
    currency: str
    lines: tuple[RefundLine, ...]
    shipping: Decimal
    adjustment: Decimal
    fee: Decimal
    total: Decimal
    refunded_at: datetime


@dataclass(frozen=True)
class Product:
    source_id: str
    sku: str
    name: str
    price: Decimal | None = None
    cost: Decimal | None = None
    description: str = ""
    product_type: str = ""
    category: str = ""
    tax_key: TaxKey | None = None
    is_tracked: bool = False
    updated_at: datetime | None = None


@dataclass(frozen=True)
class Note:
    """A short note about a contact (a helpdesk ticket, say), for the contact's history in Xero."""

    source_id: str
    contact_source_id: str
    text: str
    created_at: datetime | None = None


@dataclass(frozen=True)
class StockLevel:
    sku: str
    quantity: Decimal
    location: str = ""


def _jsonable(value):
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(type(value))


def _plain(value):
    """A canonical record as plain JSON data, without dataclasses.asdict's deep copies (the staging hot path).

    Equal, value for value, to json.loads(json.dumps(asdict(value), default=_jsonable)): versions computed before
    stay the same."""
    # By exact type first: the values of records are mostly these, and a chain of isinstance calls per value was
    # most of the cost. Subclasses (StrEnum) and anything else take the general path below.
    kind = type(value)
    if kind in _AS_IS:
        return value
    names = _FIELD_NAMES.get(kind)
    if names is not None:
        return {name: _plain(getattr(value, name)) for name in names}
    if kind is Decimal:
        return format(value, "f")
    if kind is tuple or kind is list:
        return [_plain(item) for item in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value.value if isinstance(value, StrEnum) else value
    if isinstance(value, Decimal | datetime):
        return _jsonable(value)
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key if isinstance(key, str) else json.dumps(key): _plain(item) for key, item in value.items()}
    names = _FIELD_NAMES.get(type(value))
    if names is None:
        names = _FIELD_NAMES[type(value)] = tuple(f.name for f in fields(value))
    return {name: _plain(getattr(value, name)) for name in names}


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}
_AS_IS = frozenset({str, int, float, bool, type(None)})


def fingerprint(record) -> str:
    """A stable hash of a canonical record: equal records, equal hashes (used for versions and change detection)."""
    return fingerprint_json(_plain(record))


def fingerprint_json(data) -> str:
    """fingerprint() of a record already in its JSON form (to_json): staging has that form anyway, for the job.

    The text hashed is json.dumps(data, sort_keys=True, separators=(",", ":")), as it always was. orjson writes it
    (core.jsonfast, a seventh of the time) whenever that text is ASCII: json's ensure_ascii then has nothing to
    escape (a DEL, which it escapes, is not let through either)."""
    payload = jsonfast.dumps_sorted(data)
    if not payload.isascii() or "\x7f" in payload:
        payload = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


# JSON form -----------------------------------------------------------------------------------------------------
# Jobs carry their canonical record as JSON; money travels as decimal strings so no cent is ever lost.

ENTITY_TYPES = {
    "contact": Contact,
    "order": Order,
    "payment": Payment,
    "refund": Refund,
    "product": Product,
    "stock": StockLevel,
    "note": Note,
}


def to_json(record) -> dict:
    """A canonical record as JSON-safe data (Decimals as strings, datetimes in ISO 8601).

    Written by orjson and read back (two passes in C, half of _plain's time, which was a tenth of processing's
    CPU), with Decimals and datetimes written by _jsonable as _plain writes them: the same data, so the same
    versions. What orjson refuses (an integer beyond 64 bits, a key that is not a string, a value _jsonable does not
    know) goes through _plain, which answers as it always did. (orjson writes a NaN float as null; no amount can be
    one, core.money refuses it, and core.jsonfast refuses to read one from a source.)"""
    try:
        return orjson.loads(orjson.dumps(record, default=_jsonable, option=orjson.OPT_PASSTHROUGH_DATETIME))
    except TypeError:
        return _plain(record)


def _decimal(value) -> Decimal:
    return from_json_number(value)


def _time(value) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _tax_key(data) -> TaxKey | None:
    return TaxKey(code=data["code"], percent=_decimal(data["percent"]), label=data.get("label", "")) if data else None


def _address(data) -> Address:
    return Address(**{**data, "lines": tuple(data.get("lines") or ())})


def _contact(data) -> Contact:
    return Contact(
        **{
            **data,
            "addresses": tuple(_address(a) for a in data.get("addresses") or ()),
            "updated_at": _time(data.get("updated_at")),
        }
    )


def _order_line(data) -> OrderLine:
    return OrderLine(
        **{
            **data,
            "kind": LineKind(data["kind"]),
            "quantity": _decimal(data["quantity"]),
            "unit_price": _decimal(data["unit_price"]),
            "discount": _decimal(data.get("discount", "0")),
            "tax": _decimal(data.get("tax", "0")),
            "total": _decimal(data.get("total", "0")),
            "tax_key": _tax_key(data.get("tax_key")),
        }
    )


def _order(data) -> Order:
    money = ("subtotal", "tax_total", "discount_total", "shipping_total", "grand_total", "currency_rate")
    return Order(
        **{
            **data,
            **{name: _decimal(data[name]) for name in money if name in data},
            "lines": tuple(_order_line(line) for line in data["lines"]),
            "contact": _contact(data["contact"]) if data.get("contact") else None,
            "created_at": _time(data["created_at"]),
            "updated_at": _time(data["updated_at"]),
        }
    )


def _payment(data) -> Payment:
    return Payment(**{**data, "amount": _decimal(data["amount"]), "paid_at": _time(data["paid_at"])})


def _refund(data) -> Refund:
    lines = tuple(
        RefundLine(
            **{
                **line,
                "quantity": _decimal(line["quantity"]),
                "amount": _decimal(line["amount"]),
                "tax": _decimal(line.get("tax", "0")),
                "tax_key": _tax_key(line.get("tax_key")),
            }
        )
        for line in data["lines"]
    )
    money = {name: _decimal(data[name]) for name in ("shipping", "adjustment", "fee", "total")}
    return Refund(**{**data, **money, "lines": lines, "refunded_at": _time(data["refunded_at"])})


def _product(data) -> Product:
    return Product(
        **{
            **data,
            "price": _decimal(data["price"]) if data.get("price") is not None else None,
            "cost": _decimal(data["cost"]) if data.get("cost") is not None else None,
            "tax_key": _tax_key(data.get("tax_key")),
            "updated_at": _time(data.get("updated_at")),
        }
    )


def _stock(data) -> StockLevel:
    return StockLevel(**{**data, "quantity": _decimal(data["quantity"])})


def _note(data) -> Note:
    return Note(**{**data, "created_at": _time(data.get("created_at"))})


_READERS = {
    "contact": _contact,
    "order": _order,
    "payment": _payment,
    "refund": _refund,
    "product": _product,
    "stock": _stock,
    "note": _note,
}


def from_json(entity: str, data: dict):
    """The canonical record of `entity` back from its JSON form (the inverse of to_json)."""
    try:
        reader = _READERS[entity]
    except KeyError:
        raise ValueError(f"unknown canonical entity {entity!r}") from None
    return reader(data)
