"""Magento's wire formats: "YYYY-MM-DD HH:MM:SS" UTC timestamps, money as JSON numbers, zero-padded increment ids."""

import json
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

MAGENTO_DATETIME = "%Y-%m-%d %H:%M:%S"


def magento_datetime(value: datetime) -> str:
    """An aware datetime as Magento writes it: UTC, a space, no zone."""
    return value.astimezone(UTC).strftime(MAGENTO_DATETIME)


def parse_magento_datetime(value) -> datetime | None:
    """Read a Magento timestamp (also a bare date or an ISO string) as aware UTC; None when it is not a time."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().replace("T", " ")
    if text.endswith("Z"):
        text = text[:-1]
    for fmt in (MAGENTO_DATETIME, "%Y-%m-%d %H:%M", "%Y-%m-%d"):
        try:
            return datetime.strptime(text[:19], fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def money(value: Decimal) -> int | float:
    """A Decimal amount as Magento prints it: a JSON number, without trailing zeros (165, 1917.6)."""
    value = Decimal(value)
    if value == value.to_integral_value():
        return int(value)
    # A quantised Decimal has a shortest float repr equal to its digits, so nothing is lost on the wire.
    return float(value)


def decimal_or_none(value) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def increment_id(number: int, prefix: str = "") -> str:
    """Magento's order/invoice/credit memo number: a per-store prefix and nine zero-padded digits."""
    return f"{prefix}{number:09d}" if prefix == "" else f"{prefix}{number:08d}"


def dumps(document) -> str:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))
