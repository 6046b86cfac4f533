"""Money is Decimal, quantised explicitly. Floats never enter."""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

CENT = Decimal("0.01")
UNIT_PRICE_4DP = Decimal("0.0001")


def to_decimal(value) -> Decimal:
    """Parse a source value (str, int, Decimal) to Decimal. Floats are refused: they have already lost cents. So are
    "NaN" and "Infinity", which Decimal reads but no ledger can hold."""
    if type(value) is Decimal and value.is_finite():
        # Already exact: its text read again is the same Decimal, and quantize and json_amount read every amount a
        # source sends twice (processing's normalising did little else).
        return value
    if isinstance(value, float):
        raise TypeError("money must not be a float; pass a string or Decimal")
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise ValueError(f"not a decimal amount: {value!r}") from exc
    if not amount.is_finite():
        raise ValueError(f"not a decimal amount: {value!r}")
    return amount


def quantize(value, places: Decimal = CENT) -> Decimal:
    """Round half up (commercial rounding, as Xero does) to `places`, 2 dp by default."""
    return to_decimal(value).quantize(places, rounding=ROUND_HALF_UP)


def from_json_number(value) -> Decimal:
    """A number as parsed from JSON (int, Decimal, str, or a float from a plain json.loads) as an exact Decimal.

    A float parsed from JSON text like 12.34 prints back as "12.34" (shortest round-trip repr), so going through
    repr recovers exactly what the source wrote. Prefer parsing with json.loads(parse_float=Decimal).
    """
    if value is None:
        return Decimal(0)
    return to_decimal(repr(value) if isinstance(value, float) else value)


def json_amount(value) -> Decimal:
    """An amount from a source's JSON (None as zero), exact and rounded to the cent."""
    return quantize(from_json_number(value))
