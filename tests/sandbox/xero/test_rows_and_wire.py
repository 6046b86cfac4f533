"""The simulator's own fast paths give what the slow ones gave: JSON on the wire, new rows, COPY and UPDATE."""

import json
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from sandbox.xero.models import Contact, HistoryRecord, Invoice, LineItem, Organisation
from sandbox.xero.services.orgs import organisation_create
from sandbox.xero.services.rows import new_row, rows_copy, rows_insert, rows_update
from sandbox.xero.wire import _dumps_json, dumps


def test_json_answers_keep_decimals_exact_and_read_as_json_reads():
    data = {
        "Total": Decimal("10.50"),
        "Rate": Decimal("1.000000"),
        "Tiny": Decimal("1E-7"),
        "Id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "Day": date(2025, 1, 15),
        "At": datetime(2025, 1, 15, 10, 30, tzinfo=UTC),
        "Name": 'Ünïcode \u2028 \x00num:1 "quoted"',
        "Lines": [{"Quantity": 3, "Flag": True, "None": None}],
    }
    raw = dumps(data)
    assert b'"Total":10.50' in raw and b'"Rate":1.000000' in raw and b'"Tiny":1E-7' in raw
    assert json.loads(raw, parse_float=Decimal) == json.loads(_dumps_json(data), parse_float=Decimal)
    assert json.loads(raw)["Name"] == data["Name"]  # a string that looks like our number mark stays a string


@pytest.mark.parametrize("value", [2**70, Decimal("NaN")])
def test_json_answers_orjson_cannot_write_go_through_json(value):
    assert dumps({"Value": value}) == _dumps_json({"Value": value})


def test_a_new_row_holds_what_the_model_would_give_it():
    line = new_row(LineItem, position=2, description="x")
    model = LineItem(position=2, description="x")
    for field in LineItem._meta.concrete_fields:
        if field.attname != "id":
            assert getattr(line, field.attname) == getattr(model, field.attname), field.attname
    assert isinstance(line.id, uuid.UUID) and line.id != new_row(LineItem).id
    assert line.tracking == [] and line.tracking is not new_row(LineItem).tracking  # a callable default, per row
    with pytest.raises(TypeError):
        new_row(LineItem, nonsense=1)


@pytest.fixture
def org(db):
    info = organisation_create(name="Rows Ltd", country="AU")
    return Organisation.objects.get(tenant_id=info["tenant_id"])


def test_copy_and_update_store_what_saving_the_rows_would(org):
    contact = new_row(Contact, org_id=org.pk, name="Ann", extra={"Note": "é"})
    rows_insert(Contact, [contact])
    invoices = [
        new_row(Invoice, org_id=org.pk, type="ACCREC", contact_id=contact.pk, date=date(2025, 1, i), total=Decimal(i))
        for i in (1, 2)
    ]
    rows_insert(Invoice, invoices)
    lines = [new_row(LineItem, invoice_id=invoices[0].pk, line_amount=Decimal("1.005"), tracking=[{"Name": "R"}])]
    rows_insert(LineItem, lines)
    rows_copy(HistoryRecord, [new_row(HistoryRecord, org_id=org.pk, object_id=contact.pk, changes="Created")])

    assert Contact.objects.get(pk=contact.pk).extra == {"Note": "é"}
    stored = LineItem.objects.get(pk=lines[0].pk)
    assert stored.line_amount == Decimal("1.01") == lines[0].line_amount and stored.tracking == [{"Name": "R"}]
    assert HistoryRecord.objects.get(object_id=contact.pk).user == "System Generated"

    invoices[0].amount_paid, invoices[0].status = 0, "PAID"  # an int among Decimals goes as the Decimal it is
    invoices[1].amount_paid, invoices[1].status = Decimal("2.00"), "AUTHORISED"
    rows_update(Invoice, invoices, ("amount_paid", "status"))
    assert list(Invoice.objects.filter(org=org).order_by("date").values_list("amount_paid", "status")) == [
        (Decimal("0.00"), "PAID"),
        (Decimal("2.00"), "AUTHORISED"),
    ]
