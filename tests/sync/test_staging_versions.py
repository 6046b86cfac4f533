"""Job versions are hashes of the canonical record: staging makes each record's JSON form once and hashes that, and
the versions must stay what they were, or every record already in Xero would look changed and be sent again."""

import json
from dataclasses import replace

from django.conf import settings

from connections.canonical import fingerprint, to_json
from connections.providers.magento.normalize import normalize_order
from sync.services.staging import _plan, effects_of, version_of

PAYLOADS = settings.SHARED_DIR / "research" / "payloads"


def _documented_order():
    return normalize_order(json.loads((PAYLOADS / "magento_order.json").read_text()))


def test_the_documented_orders_job_versions_stay_as_they_were():
    order = _documented_order()
    contact, invoice = effects_of("order", order)
    # The hashes staging gave before it reused the record's JSON form.
    assert version_of(contact) == "d450a00bbea4949d09fb83985ffefd1cdcc13bf1b3ea29e917321997f6190617"
    assert version_of(invoice) == "e6ebcf34fa12930661680ab1b7b37aa101f8a067ea3522ba9fcd4acd11912983"
    assert version_of(invoice, to_json(order)) == version_of(invoice)
    assert version_of(contact, to_json(order)["contact"]) == fingerprint(order.contact)
    # An invoice's version ignores the order's status and last update; its contact's and the record's do not.
    assert version_of(invoice) == fingerprint(replace(order, status="", updated_at=order.created_at))
    completed = replace(order, status="complete", updated_at=None)
    assert version_of(effects_of("order", completed)[1], to_json(completed)) == version_of(invoice)
    assert fingerprint(completed) != fingerprint(order)


def test_staging_plans_each_effect_with_its_records_json_form(monkeypatch):
    import sync.services.staging as staging

    order = _documented_order()
    # The posting policy's reads are not what is under test here: every order is invoiced, nothing is in Xero.
    monkeypatch.setattr(staging, "_synced_versions", lambda connection, ids, entities: {})
    monkeypatch.setattr(staging, "_cancelled_unsent", lambda connection, ids: set())
    monkeypatch.setattr(staging, "order_cancel_action", lambda **_: None)
    monkeypatch.setattr(staging, "order_edit_action", lambda **_: None)
    monkeypatch.setattr(staging, "order_invoice_decision", lambda **_: (True, ""))
    planned, skipped, cancelled = _plan(object(), [("order", order)])
    assert skipped == [] and cancelled == set()
    assert [(effect.operation, version, data) for effect, version, data in planned] == [
        (effect.operation, version_of(effect), to_json(effect.record)) for effect in effects_of("order", order)
    ]


def test_a_records_version_hashes_the_text_json_always_wrote():
    import hashlib

    from connections.canonical import fingerprint_json

    for data in (
        {"name": "Zoë ☕", "lines": [{"qty": "2", "price": 12.5}], "note": None},
        {"text": "tab\there, DEL \x7f, NUL \x00, line\u2028", "b": [1e-05, 1e16, 10**20, True]},
        {"plain": "ascii only", "n": 0.1, "nested": {"z": 1, "a": [None, False]}},
    ):
        text = json.dumps(data, sort_keys=True, separators=(",", ":"))
        assert fingerprint_json(data) == hashlib.sha256(text.encode()).hexdigest()


def test_a_records_json_form_is_what_asdict_and_json_give():
    from dataclasses import asdict
    from datetime import UTC, datetime, timedelta, timezone
    from decimal import Decimal

    from connections.canonical import _jsonable

    order = _documented_order()
    plus_two = timezone(timedelta(hours=2))
    edited = replace(
        order,
        created_at=datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=plus_two),
        updated_at=datetime(2026, 3, 2, tzinfo=UTC),
        currency_rate=Decimal("1.2345000"),
        extra={"nested": {"b": [1, 2.5, None, True]}, "a": "Zoë"},
    )
    # orjson refuses these; the record's JSON form is still json's.
    odd_keys = replace(order, extra={1: "int key", "big": 10**20})
    for record in (order, edited, odd_keys, order.contact):
        expected = json.loads(json.dumps(asdict(record), default=_jsonable))
        assert json.dumps(to_json(record)) == json.dumps(expected)
