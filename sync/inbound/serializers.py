"""Partner ingest input: strict serializers mirroring the canonical records (connections.canonical).

Money is a decimal string (or an integer), never a JSON float: a float has already lost cents somewhere.
Amounts have at most 2 decimal places, unit prices and quantities at most 4. Times are ISO 8601 (a bare date
means midnight UTC) and are stored in UTC. Totals must add up exactly; a record whose numbers don't is refused
with the field that is off and the value it should have.
"""

from datetime import UTC, date, datetime, time
from decimal import Decimal
from functools import cache

from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from connections import canonical
from core.api.serializers import StrictSerializer
from core.money import CENT, quantize

ZERO = Decimal("0.00")
MAX_BATCH = 500


class DecimalStringField(serializers.DecimalField):
    """A DecimalField that refuses JSON floats and returns the exact Decimal it was given."""

    default_error_messages = {"float": 'Send numbers as decimal strings, for example "12.34".'}

    def __init__(self, *, places: int = 2, minimum=None, **kwargs):
        kwargs.setdefault("max_digits", 16)
        kwargs.setdefault("decimal_places", places)
        if minimum is not None:
            kwargs["min_value"] = Decimal(minimum)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if isinstance(data, float | bool):
            self.fail("float")
        return super().to_internal_value(data)


def Money(**kwargs):  # noqa: N802 - reads like a field type
    return DecimalStringField(places=2, **kwargs)


@extend_schema_field(OpenApiTypes.DATETIME)
class UtcDateTimeField(serializers.Field):
    """ISO 8601 date-time (offset-less means UTC) or a bare date (midnight UTC); always returned in UTC."""

    default_error_messages = {"invalid": "Use ISO 8601, for example 2025-03-01T10:15:00Z or 2025-03-01."}

    def to_internal_value(self, data):
        if not isinstance(data, str) or len(data) > 40:
            self.fail("invalid")
        try:
            moment = parse_datetime(data)
            if moment is None:
                day = parse_date(data)
                if day is None:
                    self.fail("invalid")
                moment = datetime.combine(day, time(), tzinfo=UTC)
        except ValueError:
            self.fail("invalid")
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)

    def to_representation(self, value):
        return value.isoformat() if isinstance(value, datetime | date) else value


class CurrencyField(serializers.RegexField):
    def __init__(self, **kwargs):
        super().__init__(r"^[A-Za-z]{3}$", error_messages={"invalid": "Use a 3-letter ISO 4217 code."}, **kwargs)

    def to_internal_value(self, data):
        return super().to_internal_value(data).upper()


def _id_field(**kwargs):
    return serializers.CharField(max_length=128, trim_whitespace=True, **kwargs)


def _text(max_length=255, **kwargs):
    return serializers.CharField(max_length=max_length, required=False, allow_blank=True, default="", **kwargs)


def _tax_key(attrs, *, field_prefix: str = "") -> canonical.TaxKey | None:
    code, rate = attrs.get("tax_code") or "", attrs.get("tax_rate")
    if not code and rate is None:
        return None
    if not code:
        return canonical.TaxKey.from_rate(rate)
    return canonical.TaxKey(code=code, percent=(rate if rate is not None else Decimal(0)).normalize(), label=code)


class AddressIn(StrictSerializer):
    kind = serializers.ChoiceField(choices=["billing", "shipping"], default="billing")
    lines = serializers.ListField(child=serializers.CharField(max_length=255), max_length=4, required=False)
    city = _text(100)
    region = _text(100)
    postcode = _text(20)
    country = serializers.RegexField(r"^[A-Za-z]{2}$", required=False, allow_blank=True, default="")


class ContactIn(StrictSerializer):
    id = _id_field(help_text="Your system's id for the contact.")
    email = serializers.EmailField(required=False, allow_blank=True, default="")
    first_name = _text()
    last_name = _text()
    company = _text()
    phone = _text(50)
    tax_number = _text(50)
    group = _text(100)
    addresses = AddressIn(many=True, required=False)
    is_customer = serializers.BooleanField(default=True)
    is_supplier = serializers.BooleanField(default=False)
    is_archived = serializers.BooleanField(default=False)
    updated_at = UtcDateTimeField(required=False)

    def to_canonical(self, attrs) -> canonical.Contact:
        addresses = tuple(
            canonical.Address(
                kind=a["kind"],
                lines=tuple(a.get("lines") or ()),
                city=a["city"],
                region=a["region"],
                postcode=a["postcode"],
                country=a["country"].upper(),
            )
            for a in attrs.get("addresses") or ()
        )
        fields = ("email", "first_name", "last_name", "company", "phone", "tax_number", "group")
        return canonical.Contact(
            source_id=attrs["id"],
            **{name: attrs[name] for name in fields},
            addresses=addresses,
            is_customer=attrs["is_customer"],
            is_supplier=attrs["is_supplier"],
            is_archived=attrs["is_archived"],
            updated_at=attrs.get("updated_at"),
        )


class OrderLineIn(StrictSerializer):
    line_id = serializers.CharField(max_length=64, required=False, help_text="Defaults to the line's position.")
    kind = serializers.ChoiceField(choices=[k.value for k in canonical.LineKind], default="product")
    sku = _text(100)
    description = serializers.CharField(max_length=4000)
    quantity = DecimalStringField(places=4)
    unit_price = DecimalStringField(places=4, help_text="Excludes tax unless the order is tax-inclusive.")
    discount = Money(minimum=0, default=ZERO, help_text="Amount taken off this line (positive).")
    tax = Money(default=ZERO)
    total = Money(required=False, help_text="quantity × unit_price − discount; computed when omitted.")
    tax_code = _text(50, help_text="Your tax code; mapped to a Xero tax rate per tenant.")
    tax_rate = DecimalStringField(places=4, required=False, minimum=0, help_text='Percent, e.g. "10".')
    product_type = _text(50)
    category = _text(100)

    def validate(self, attrs):
        expected = quantize(attrs["quantity"] * attrs["unit_price"] - attrs["discount"])
        if "total" in attrs and attrs["total"] != expected:
            raise serializers.ValidationError(
                {"total": [f"quantity × unit_price − discount comes to {expected}, not {attrs['total']}."]}
            )
        attrs["total"] = expected
        if attrs["tax"] and not attrs.get("tax_code") and attrs.get("tax_rate") is None:
            raise serializers.ValidationError({"tax_code": ["A line with tax needs a tax_code or a tax_rate."]})
        return attrs


class OrderIn(StrictSerializer):
    id = _id_field(help_text="Your system's id for the order.")
    number = serializers.CharField(max_length=100, required=False, help_text="Defaults to the id.")
    currency = CurrencyField()
    tax_inclusive = serializers.BooleanField(default=False)
    lines = OrderLineIn(many=True, allow_empty=False, max_length=1000)
    subtotal = Money(required=False, help_text="Sum of product lines; computed when omitted.")
    tax_total = Money(required=False, help_text="Sum of line taxes; checked when given.")
    discount_total = Money(required=False, minimum=0, help_text="Sum of line discounts and discount lines.")
    shipping_total = Money(required=False, help_text="Sum of shipping lines; checked when given.")
    grand_total = Money(help_text="What the customer pays; must equal the lines (plus tax when exclusive).")
    status = _text(50)
    created_at = UtcDateTimeField()
    updated_at = UtcDateTimeField(required=False, help_text="Defaults to created_at.")
    contact = ContactIn(required=False)
    is_guest = serializers.BooleanField(default=False)
    currency_rate = DecimalStringField(places=8, max_digits=20, required=False, minimum="0.00000001")
    base_currency = CurrencyField(required=False)
    payment_method = _text(100)
    channel = _text(100)
    is_cancelled = serializers.BooleanField(default=False)

    def validate(self, attrs):
        lines = attrs["lines"]
        product = [line for line in lines if line["kind"] == canonical.LineKind.PRODUCT]
        computed = {
            "subtotal": quantize(sum((line["total"] for line in product), ZERO)),
            "tax_total": quantize(sum((line["tax"] for line in lines), ZERO)),
            "shipping_total": quantize(
                sum((line["total"] for line in lines if line["kind"] == canonical.LineKind.SHIPPING), ZERO)
            ),
            "discount_total": quantize(
                sum((line["discount"] for line in lines), ZERO)
                + sum((abs(line["total"]) for line in lines if line["kind"] == canonical.LineKind.DISCOUNT), ZERO)
            ),
        }
        errors = {}
        for name, value in computed.items():
            if name in attrs and attrs[name] != value:
                errors[name] = [f"The lines come to {value}, not {attrs[name]}."]
            attrs[name] = value
        lines_total = quantize(sum((line["total"] for line in lines), ZERO))
        expected = quantize(lines_total + (ZERO if attrs["tax_inclusive"] else computed["tax_total"]))
        if attrs["grand_total"] != expected:
            basis = "the lines" if attrs["tax_inclusive"] else "the lines plus tax"
            errors["grand_total"] = [f"{basis.capitalize()} come to {expected}, not {attrs['grand_total']}."]
        if attrs.get("updated_at") and attrs["updated_at"] < attrs["created_at"]:
            errors["updated_at"] = ["updated_at is before created_at."]
        if errors:
            raise serializers.ValidationError(errors)
        return attrs

    def to_canonical(self, attrs) -> canonical.Order:
        lines = tuple(
            canonical.OrderLine(
                line_id=line.get("line_id") or str(position),
                kind=canonical.LineKind(line["kind"]),
                description=line["description"],
                quantity=line["quantity"],
                unit_price=line["unit_price"],
                discount=quantize(line["discount"]),
                tax=quantize(line["tax"]),
                total=line["total"],
                tax_key=_tax_key(line),
                sku=line["sku"],
                product_type=line["product_type"],
                category=line["category"],
            )
            for position, line in enumerate(attrs["lines"], start=1)
        )
        contact = ContactIn().to_canonical(attrs["contact"]) if attrs.get("contact") else None
        return canonical.Order(
            source_id=attrs["id"],
            number=attrs.get("number") or attrs["id"],
            currency=attrs["currency"],
            tax_inclusive=attrs["tax_inclusive"],
            lines=lines,
            subtotal=attrs["subtotal"],
            tax_total=attrs["tax_total"],
            discount_total=attrs["discount_total"],
            shipping_total=attrs["shipping_total"],
            grand_total=attrs["grand_total"],
            status=attrs["status"],
            created_at=attrs["created_at"],
            updated_at=attrs.get("updated_at") or attrs["created_at"],
            contact=contact,
            is_guest=attrs["is_guest"],
            currency_rate=attrs.get("currency_rate") or Decimal("1"),
            base_currency=attrs.get("base_currency", ""),
            channel=attrs["channel"],
            payment_method=attrs["payment_method"],
            is_cancelled=attrs["is_cancelled"],
        )


class PaymentIn(StrictSerializer):
    id = _id_field()
    order_id = _id_field(help_text="The id of the order this pays, as pushed to /ingest/orders/.")
    amount = Money(minimum="0.01")
    currency = CurrencyField()
    method = _text(100)
    paid_at = UtcDateTimeField()
    reference = _text()

    def to_canonical(self, attrs) -> canonical.Payment:
        return canonical.Payment(
            source_id=attrs["id"],
            order_source_id=attrs["order_id"],
            amount=attrs["amount"],
            currency=attrs["currency"],
            method=attrs["method"],
            paid_at=attrs["paid_at"],
            reference=attrs["reference"],
        )


class RefundLineIn(StrictSerializer):
    line_id = serializers.CharField(max_length=64, required=False)
    description = serializers.CharField(max_length=4000)
    quantity = DecimalStringField(places=4)
    amount = Money(help_text="The refunded amount of the line, excluding tax.")
    tax = Money(default=ZERO)
    tax_code = _text(50)
    tax_rate = DecimalStringField(places=4, required=False, minimum=0)
    sku = _text(100)


class RefundIn(StrictSerializer):
    id = _id_field()
    order_id = _id_field()
    number = serializers.CharField(max_length=100, required=False)
    currency = CurrencyField()
    lines = RefundLineIn(many=True, required=False, max_length=1000)
    shipping = Money(default=ZERO)
    adjustment = Money(default=ZERO, help_text="Extra refunded beyond the lines (positive) or withheld (negative).")
    fee = Money(default=ZERO, minimum=0, help_text="A restocking or handling fee kept back.")
    total = Money(minimum="0.01", help_text="lines + their tax + shipping + adjustment − fee.")
    refunded_at = UtcDateTimeField()

    def validate(self, attrs):
        lines = attrs.get("lines") or []
        expected = quantize(
            sum((line["amount"] + line["tax"] for line in lines), ZERO)
            + attrs["shipping"]
            + attrs["adjustment"]
            - attrs["fee"]
        )
        if attrs["total"] != expected:
            raise serializers.ValidationError({"total": [f"The refund comes to {expected}, not {attrs['total']}."]})
        return attrs

    def to_canonical(self, attrs) -> canonical.Refund:
        lines = tuple(
            canonical.RefundLine(
                line_id=line.get("line_id") or str(position),
                description=line["description"],
                quantity=line["quantity"],
                amount=quantize(line["amount"], CENT),
                tax=quantize(line["tax"]),
                tax_key=_tax_key(line),
                sku=line["sku"],
            )
            for position, line in enumerate(attrs.get("lines") or (), start=1)
        )
        return canonical.Refund(
            source_id=attrs["id"],
            order_source_id=attrs["order_id"],
            number=attrs.get("number") or attrs["id"],
            currency=attrs["currency"],
            lines=lines,
            shipping=attrs["shipping"],
            adjustment=attrs["adjustment"],
            fee=attrs["fee"],
            total=attrs["total"],
            refunded_at=attrs["refunded_at"],
        )


class ProductIn(StrictSerializer):
    id = _id_field()
    sku = serializers.CharField(max_length=30, help_text="Xero item codes are at most 30 characters.")
    name = serializers.CharField(max_length=50, help_text="Xero item names are at most 50 characters.")
    price = DecimalStringField(places=4, required=False, allow_null=True, minimum=0)
    cost = DecimalStringField(places=4, required=False, allow_null=True, minimum=0)
    description = _text(4000)
    product_type = _text(50)
    category = _text(100)
    tax_code = _text(50)
    tax_rate = DecimalStringField(places=4, required=False, minimum=0)
    is_tracked = serializers.BooleanField(default=False)
    updated_at = UtcDateTimeField(required=False)

    def to_canonical(self, attrs) -> canonical.Product:
        return canonical.Product(
            source_id=attrs["id"],
            sku=attrs["sku"],
            name=attrs["name"],
            price=attrs.get("price"),
            cost=attrs.get("cost"),
            description=attrs["description"],
            product_type=attrs["product_type"],
            category=attrs["category"],
            tax_key=_tax_key(attrs),
            is_tracked=attrs["is_tracked"],
            updated_at=attrs.get("updated_at"),
        )


# Route segment → (canonical kind stored on the inbox row, record serializer).
ENTITIES: dict[str, tuple[str, type[StrictSerializer]]] = {
    "contacts": ("contact", ContactIn),
    "orders": ("order", OrderIn),
    "payments": ("payment", PaymentIn),
    "refunds": ("refund", RefundIn),
    "products": ("product", ProductIn),
}


@cache
def batch_serializer(record_serializer):
    """{"records": [...]} of one record type, 1 to 500 records."""
    return type(
        f"{record_serializer.__name__.removesuffix('In')}Batch",
        (StrictSerializer,),
        {"records": record_serializer(many=True, allow_empty=False, max_length=MAX_BATCH)},
    )


class IngestAnswer(serializers.Serializer):
    accepted = serializers.IntegerField(help_text="Records stored as new versions.")
    duplicates = serializers.IntegerField(help_text="Records identical to a version already received.")
    events = serializers.ListField(child=serializers.IntegerField(), help_text="Inbox event ids, in input order.")
