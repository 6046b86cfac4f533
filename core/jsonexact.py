"""JSON with exact decimal numbers.

The standard encoder cannot write a Decimal as a JSON number without going through float. Remote APIs want
numbers (Xero's spec types amounts as `number`), and accountants want exactly the digits we hold, so Decimals are
written as number literals with exactly their digits.
"""

import json
import re
import uuid
from decimal import Decimal

_MARK = f"__decimal_{uuid.uuid4().hex}__"
_PATTERN = re.compile(rf'"{_MARK}(-?[0-9]+(?:\.[0-9]+)?)"')


def _mark(value):
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{value} is not a finite amount")
        return f"{_MARK}{format(value, 'f')}"
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps(value) -> str:
    """json.dumps, with every Decimal written as an exact number literal."""
    text = json.dumps(value, default=_mark, separators=(",", ":"))
    return _PATTERN.sub(lambda m: m.group(1), text)


def loads(text: str | bytes):
    """json.loads, with every non-integer number read as an exact Decimal; NaN and Infinity, which are not JSON
    numbers (nor amounts), are refused (ValueError) rather than read as floats."""
    return json.loads(text, parse_float=Decimal, parse_constant=_not_a_number)


def _not_a_number(literal: str):
    raise ValueError(f"{literal} is not a JSON number")
