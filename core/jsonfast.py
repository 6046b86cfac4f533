"""The standard library's JSON, read and written by orjson where orjson gives exactly the same answer.

A poll decodes every page it reads and encodes every record again (sorted keys) to hash it for its dedupe key and
store it: with the standard library that was three fifths of the poll's CPU. orjson does both several times faster,
and differs from the standard library only at edges that are recognised here and handed back to it, so every text
and hash is what it was:

- reading: an integer beyond 64 bits (orjson reads it as a float), a lone surrogate escape, bytes that are not
  UTF-8.
- writing: a float written with a negative exponent (orjson writes `1e-5` or `0.00001` where json writes `1e-05`),
  an integer beyond 64 bits, a non-string key, anything that is not plain JSON data (a date, a Decimal, a
  subclass of str or int: json's `default` or its own rules decide those).

One edge cannot be seen in orjson's output: it writes a NaN or an infinite float as `null` where json writes
`NaN`. So reading refuses what would decode to one, where json would read it: the literals `NaN` and `Infinity`
(not JSON at all) and a number too large for a float (`1e400`). A source that sends them gets a clear error rather
than a record whose amount quietly became null; PostgreSQL's jsonb refused them too before this module.
"""

import json
import math

import orjson

# 19 digits in a row may be an integer beyond 64 bits (or a long fraction, read the same by both: a false alarm
# only costs speed). Looked for anywhere, strings included, with every digit made a 0 (a tenth of a regex's time).
_LONG_DIGITS = b"0" * 19
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
# Where orjson's float differs from repr(): a negative exponent (a digit, "e-", a digit), or the plain form orjson
# uses for some of them, 0.0000… where a value starts (first, or after a sign, ":", "," or "["). Also found inside
# strings ("Hoodie-S" has an "e-"): a false alarm only costs speed. An amount as text ("unit_price":"0.0000", a free
# line) follows a quote: taken for a float, it sent an eighth of staged records to json's encoder. Looked for with
# bytes.find (a regex scanning the whole text was seventy times slower).
_DIGITS = frozenset(b"0123456789")
_VALUE_STARTS = frozenset(b"-:,[")
_SORTED = orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_SUBCLASS | orjson.OPT_PASSTHROUGH_DATETIME
_SORTED |= orjson.OPT_PASSTHROUGH_DATACLASS


def loads(data: bytes):
    """json.loads(data) of a body as received: the same values, or the same error; but a NaN, an Infinity or a
    number beyond a float's range is refused (ValueError), as orjson and PostgreSQL refuse them."""
    if _LONG_DIGITS not in data.translate(_DIGITS_AS_ZERO):
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass  # not JSON as orjson reads it: json's answer, value or error, stands
    return json.loads(data, parse_constant=_not_a_number, parse_float=_finite_float)


def _not_a_number(literal: str):
    raise ValueError(f"{literal} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is beyond the range of a number")
    return value


def _float_differs(encoded: bytes) -> bool:
    at = encoded.find(b"0.0000")
    while at != -1:
        if at == 0 or encoded[at - 1] in _VALUE_STARTS:
            return True
        at = encoded.find(b"0.0000", at + 6)
    at = encoded.find(b"e-")
    while at != -1:
        if at > 0 and encoded[at - 1] in _DIGITS and encoded[at + 2 : at + 3].isdigit():
            return True
        at = encoded.find(b"e-", at + 2)
    return False


def _not_plain(value):
    raise TypeError  # json's own rules (or its `default`) decide: see dumps_sorted


def dumps_sorted(value, *, default=None) -> str:
    """json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=default), for decoded
    JSON data: the same text (see the module's docstring for NaN)."""
    try:
        encoded = orjson.dumps(value, default=_not_plain, option=_SORTED)
    except TypeError:
        encoded = None
    if encoded is None or _float_differs(encoded):
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=default)
    return encoded.decode()
