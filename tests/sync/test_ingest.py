"""Partner ingest: POST /api/v1/tenants/{id}/ingest/{contacts|orders|payments|refunds|products}/."""

import copy

import pytest

from connections.canonical import from_json
from connections.services import connection_create
from sync.models import InboundEvent
from tenants import services as tenant_services
from tenants.scoping import tenant_scope

pytestmark = pytest.mark.django_db

ORDER = {
    "id": "SO-5001",
    "currency": "aud",
    "created_at": "2025-03-01T21:15:00+11:00",
    "lines": [
        {"sku": "MUG-1", "description": "Mug", "quantity": "2", "unit_price": "12.50", "tax": "2.50",
         "tax_code": "GST", "tax_rate": "10"},
        {"kind": "shipping", "description": "Shipping", "quantity": "1", "unit_price": "10.00", "tax": "1.00",
         "tax_code": "GST", "tax_rate": "10"},
    ],
    "grand_total": "38.50",
    "contact": {"id": "C-1001", "email": "ana@example.com", "first_name": "Ana"},
}  # fmt: skip
CONTACT = {"id": "C-1001", "email": "ana@example.com", "first_name": "Ana", "last_name": "Lima"}


@pytest.fixture
def partner(world, api):
    """A partner connection on A1 and on B1, and a writable API key of agency A."""
    with tenant_scope(world.tenant_a1):
        mine = connection_create(tenant=world.tenant_a1, provider_id="rest", display_name="CRM")
    with tenant_scope(world.tenant_b1):
        theirs = connection_create(tenant=world.tenant_b1, provider_id="rest", display_name="CRM")
    _, key = tenant_services.api_key_create(agency=world.agency_a, name="crm")
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return mine, theirs


def _url(tenant, entity: str, query: str = "") -> str:
    return f"/api/v1/tenants/{tenant.pk}/ingest/{entity}/{query}"


def _events(connection):
    with tenant_scope(connection.tenant_id):
        return list(InboundEvent.objects.filter(connection=connection, source="api").order_by("pk"))


def test_one_order_is_stored_as_a_canonical_record(world, api, partner):
    mine, theirs = partner
    response = api.post(_url(world.tenant_a1, "orders"), ORDER, format="json")
    assert response.status_code == 202, response.content
    body = response.json()
    assert (body["accepted"], body["duplicates"]) == (1, 0)
    [event] = _events(mine)
    assert body["events"] == [event.pk]
    assert event.kind == "order" and event.status == "received"
    order = from_json("order", event.body)
    assert order.currency == "AUD" and str(order.grand_total) == "38.50"
    assert order.created_at.isoformat() == "2025-03-01T10:15:00+00:00"
    assert [str(line.total) for line in order.lines] == ["25.00", "10.00"]
    assert (str(order.tax_total), str(order.shipping_total), str(order.subtotal)) == ("3.50", "10.00", "25.00")
    assert order.lines[0].tax_key.code == "GST" and order.unexplained_difference() == 0
    assert order.contact.source_id == "C-1001"
    assert _events(theirs) == []


def test_a_batch_counts_new_records_and_duplicates(world, api, partner):
    mine, _ = partner
    changed = {**CONTACT, "id": "C-1002", "email": "bo@example.com"}
    first = api.post(_url(world.tenant_a1, "contacts"), {"records": [CONTACT, changed]}, format="json")
    assert first.status_code == 202
    assert (first.json()["accepted"], first.json()["duplicates"]) == (2, 0)
    edited = {**changed, "last_name": "Okafor"}
    second = api.post(_url(world.tenant_a1, "contacts"), {"records": [CONTACT, edited]}, format="json")
    # The unchanged contact is the same version; the edited one is a new version of C-1002.
    assert (second.json()["accepted"], second.json()["duplicates"]) == (1, 1)
    assert second.json()["events"][0] == first.json()["events"][0]
    assert [e.body["source_id"] for e in _events(mine)] == ["C-1001", "C-1002", "C-1002"]


def test_every_entity_is_accepted(world, api, partner):
    records = {
        "payments": {"id": "PAY-1", "order_id": "SO-5001", "amount": "38.50", "currency": "AUD",
                     "paid_at": "2025-03-02"},
        "refunds": {"id": "RF-1", "order_id": "SO-5001", "currency": "AUD", "total": "13.75",
                    "lines": [{"description": "Mug", "quantity": "1", "amount": "12.50", "tax": "1.25",
                               "tax_rate": "10"}], "refunded_at": "2025-03-04T09:00:00Z"},
        "products": {"id": "P-1", "sku": "MUG-1", "name": "Mug", "price": "12.5000"},
    }  # fmt: skip
    for entity, record in records.items():
        response = api.post(_url(world.tenant_a1, entity), record, format="json")
        assert response.status_code == 202, (entity, response.content)
    kinds = [(e.kind, from_json(e.kind, e.body).source_id) for e in _events(partner[0])]
    assert kinds == [("payment", "PAY-1"), ("refund", "RF-1"), ("product", "P-1")]
    payment = from_json("payment", _events(partner[0])[0].body)
    assert payment.paid_at.isoformat() == "2025-03-02T00:00:00+00:00"


def test_idempotency_key_replays_the_first_answer_and_refuses_another_body(world, api, partner):
    mine, _ = partner
    url = _url(world.tenant_a1, "orders")
    first = api.post(url, ORDER, format="json", HTTP_IDEMPOTENCY_KEY="import-42")
    replay = api.post(url, ORDER, format="json", HTTP_IDEMPOTENCY_KEY="import-42")
    assert first.status_code == replay.status_code == 202
    assert replay.json() == first.json() == {"accepted": 1, "duplicates": 0, "events": first.json()["events"]}
    assert replay.headers["Idempotent-Replayed"] == "true"
    other = copy.deepcopy(ORDER)
    other["lines"][0]["description"] = "Large mug"
    conflict = api.post(url, other, format="json", HTTP_IDEMPOTENCY_KEY="import-42")
    assert conflict.status_code == 409
    assert conflict.json()["code"] == "idempotency_key_reused"
    assert set(conflict.json()) == {"code", "message", "extra"}
    assert len([e for e in _events(mine) if e.kind == "order"]) == 1
    # Without the key, the same body is still safe: it is a duplicate, not a second order.
    plain = api.post(url, ORDER, format="json")
    assert (plain.json()["accepted"], plain.json()["duplicates"]) == (0, 1)


@pytest.mark.parametrize(
    "change,field",
    [
        (lambda o: o.update(grand_total="40.00"), "grand_total"),
        (lambda o: o["lines"][0].update(total="26.00"), "lines"),
        (lambda o: o.update(tax_total="3.00"), "tax_total"),
        (lambda o: o.update(shipping_total="0.00"), "shipping_total"),
        (lambda o: o.update(tax_inclusive=True), "grand_total"),
    ],
    ids=["grand_total", "line_total", "tax_total", "shipping_total", "inclusive_basis"],
)
def test_totals_that_do_not_add_up_are_400_on_the_field(world, api, partner, change, field):
    order = copy.deepcopy(ORDER)
    change(order)
    response = api.post(_url(world.tenant_a1, "orders"), order, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid" and field in body["extra"]["fields"]
    assert _events(partner[0]) == []


def test_the_grand_total_message_says_what_the_lines_come_to(world, api, partner):
    order = {**copy.deepcopy(ORDER), "grand_total": "40.00"}
    response = api.post(_url(world.tenant_a1, "orders"), order, format="json")
    assert "38.50" in response.json()["extra"]["fields"]["grand_total"][0]


@pytest.mark.parametrize(
    "record,field",
    [
        ({**CONTACT, "email": "not-an-email"}, "email"),
        ({**CONTACT, "nickname": "A"}, "nickname"),
        ({k: v for k, v in CONTACT.items() if k != "id"}, "id"),
        ({**CONTACT, "updated_at": "yesterday"}, "updated_at"),
    ],
)
def test_contact_validation_errors_name_the_field(world, api, partner, record, field):
    response = api.post(_url(world.tenant_a1, "contacts"), record, format="json")
    assert response.status_code == 400
    assert field in response.json()["extra"]["fields"]


def test_money_must_be_a_decimal_string_with_cents_at_most(world, api, partner):
    url = _url(world.tenant_a1, "payments")
    base = {"id": "PAY-1", "order_id": "SO-1", "currency": "AUD", "paid_at": "2025-03-02"}
    as_float = api.post(url, {**base, "amount": 38.5}, format="json")
    assert as_float.status_code == 400 and "decimal string" in as_float.json()["message"]
    too_precise = api.post(url, {**base, "amount": "38.505"}, format="json")
    assert too_precise.status_code == 400 and "amount" in too_precise.json()["extra"]["fields"]
    bad_currency = api.post(url, {**base, "amount": "38.50", "currency": "dollars"}, format="json")
    assert "currency" in bad_currency.json()["extra"]["fields"]
    assert _events(partner[0]) == []


def test_batches_are_bounded(world, api, partner):
    url = _url(world.tenant_a1, "contacts")
    too_many = [{**CONTACT, "id": f"C-{n}"} for n in range(501)]
    assert api.post(url, {"records": too_many}, format="json").status_code == 400
    assert api.post(url, {"records": []}, format="json").status_code == 400
    assert api.post(url, [CONTACT], format="json").status_code == 400
    assert _events(partner[0]) == []


def test_a_read_only_key_is_403(world, api, partner):
    _, key = tenant_services.api_key_create(agency=world.agency_a, name="reader", read_only=True)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    response = api.post(_url(world.tenant_a1, "contacts"), CONTACT, format="json")
    assert response.status_code == 403
    assert _events(partner[0]) == []


def test_another_agencys_tenant_is_404(world, api, partner):
    _, theirs = partner
    response = api.post(_url(world.tenant_b1, "contacts"), CONTACT, format="json")
    assert response.status_code == 404 and response.json()["code"] == "not_found"
    assert _events(theirs) == []


def test_a_tenant_without_a_partner_connection_is_told_so(world, api, partner):
    response = api.post(_url(world.tenant_a2, "contacts"), CONTACT, format="json")
    assert response.status_code == 400 and response.json()["code"] == "connection_required"


def test_several_partner_connections_need_one_named(world, api, partner):
    mine, theirs = partner
    with tenant_scope(world.tenant_a1):
        second = connection_create(tenant=world.tenant_a1, provider_id="rest", display_name="ERP")
    ambiguous = api.post(_url(world.tenant_a1, "contacts"), CONTACT, format="json")
    assert ambiguous.status_code == 400 and ambiguous.json()["code"] == "connection_required"
    assert sorted(ambiguous.json()["extra"]["connections"]) == sorted([mine.pk, second.pk])
    named = api.post(_url(world.tenant_a1, "contacts", f"?connection={second.pk}"), CONTACT, format="json")
    assert named.status_code == 202
    assert len(_events(second)) == 1 and _events(mine) == []
    # Another tenant's connection id is not a choice.
    foreign = api.post(_url(world.tenant_a1, "contacts", f"?connection={theirs.pk}"), CONTACT, format="json")
    assert foreign.status_code == 404


def test_a_member_limited_to_a1_cannot_push_to_a2(world, api, partner):
    with tenant_scope(world.tenant_a2):
        connection_create(tenant=world.tenant_a2, provider_id="rest", display_name="CRM")
    api.credentials()
    api.force_login(world.member_a)
    assert api.post(_url(world.tenant_a2, "contacts"), CONTACT, format="json").status_code == 404
    assert api.post(_url(world.tenant_a1, "contacts"), CONTACT, format="json").status_code == 202


def test_the_api_is_documented_with_examples(api, world):
    api.force_login(world.owner_a)
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    operation = paths["/api/v1/tenants/{tenant_id}/ingest/orders/"]["post"]
    assert "202" in operation["responses"]
    assert operation["requestBody"]["content"]["application/json"]["examples"]
