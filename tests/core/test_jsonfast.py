import json
import random
import struct
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from core import jsonfast
from sync.inbound.deliveries import canonical_json


def _standard(value, default=None) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=default)


EDGES = [
    # Floats json writes with a negative exponent, where orjson writes another form.
    1e-05,
    4.8746131058639654e-06,
    0.00001234,
    -1.5e-05,
    {"amount": 2e-05, "amounts": [1, 3e-05]},
    -9.948332881384304e-08,
    5e-324,
    # Floats written the same way.
    0.1,
    1e16,
    1.5e300,
    123456789012345.6,
    -0.0,
    # Integers beyond 64 bits (orjson cannot write them).
    2**64,
    -(2**63) - 1,
    # Strings: escapes, non-ASCII kept as it is, a string that looks like an exponent.
    "\x00\x1f\x7f\u2028/<>&'\"\\ Zoë ☕",
    "order 1e-5",
    # Keys sorted by code point; a non-string key (json writes it as a string).
    {"é": 1, "e": 2, "z": 3, "E": 4},
    {2: "a", 10: "b"},
    # Not plain JSON data: json's default decides.
    {"at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), "amount": Decimal("12.50"), "id": uuid.UUID(int=7)},
    [None, True, False, [], {}, ""],
]


@pytest.mark.parametrize("value", EDGES, ids=range(len(EDGES)))
def test_canonical_json_is_the_standard_librarys_text(value):
    assert canonical_json(value) == _standard(value, default=str)
    assert canonical_json({"nested": [value]}) == _standard({"nested": [value]}, default=str)


def test_canonical_json_of_many_floats_is_the_standard_librarys_text():
    # Dedupe keys already stored hash the standard library's text: a float written differently would be a new key.
    rng = random.Random(6)
    floats = [struct.unpack("d", struct.pack("Q", rng.getrandbits(64)))[0] for _ in range(20_000)]
    floats += [rng.uniform(-1, 1) * 10 ** rng.randint(-30, 30) for _ in range(20_000)]
    floats = [f for f in floats if f == f and abs(f) != float("inf")]
    for start in range(0, len(floats), 100):
        document = {"amounts": floats[start : start + 100]}
        assert canonical_json(document) == _standard(document, default=str)


def test_amounts_as_text_are_written_by_orjson(monkeypatch):
    # "0.0000" inside a string is no float: a free line's unit price must not send its whole record to json.
    monkeypatch.setattr(jsonfast.json, "dumps", None)
    record = {"unit_price": "0.0000", "total": "10.0000"}
    assert jsonfast.dumps_sorted(record) == '{"total":"10.0000","unit_price":"0.0000"}'


LOADS = [
    b'{"b": 1, "a": [1, 2.5, null, true, "Zo\\u00eb"]}',
    b'{"a": 1, "a": 2}',
    # Integers beyond 64 bits: orjson would read them as floats.
    b"123456789012345678901234567890",
    b'{"id": -9223372036854775809}',
    b"18446744073709551616",
    # What orjson refuses and json reads.
    b'"\\ud800"',
    '{"text": "Zoë"}'.encode(),
]


@pytest.mark.parametrize("text", LOADS, ids=range(len(LOADS)))
def test_loads_reads_what_the_standard_library_reads(text):
    expected = json.loads(text)
    got = jsonfast.loads(text)
    assert repr(got) == repr(expected)  # repr: NaN is not equal to itself, and 1 == 1.0


@pytest.mark.parametrize("text", [b"NaN", b'{"amount": Infinity}', b'{"amount": -Infinity}', b'{"amount": 1e400}'])
def test_loads_refuses_what_would_be_stored_as_null(text):
    # json reads these as floats that orjson would write as null: a record's amount would silently vanish.
    json.loads(text)
    with pytest.raises(ValueError):
        jsonfast.loads(text)


@pytest.mark.parametrize("text", [b"{", b'{"a": 1,}', b"\xff\xfe", b""])
def test_loads_refuses_what_the_standard_library_refuses(text):
    with pytest.raises(ValueError) as standard:
        json.loads(text)
    with pytest.raises(type(standard.value)):
        jsonfast.loads(text)
