"""Posting and contact policies as per-record decisions, each tenant's own."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from connections.canonical import Contact, Order
from mappings.models import ContactPolicy, PostingPolicy
from mappings.policies import contact_match_plan, contact_sync_decision, invoice_contact, order_invoice_decision
from tenants.scoping import tenant_scope
from tests.factories import ConnectionFactory

pytestmark = pytest.mark.django_db
WHEN = datetime(2026, 1, 5, tzinfo=UTC)


def an_order(status="processing", *, guest=False, group="1", cancelled=False):
    contact = Contact(
        source_id="guest:a@example.com" if guest else "7", email="a@example.com", first_name="Ann", group=group
    )
    zero = Decimal("0.00")
    return Order("1", "1", "AUD", False, (), zero, zero, zero, zero, zero, status, WHEN, WHEN, contact=contact,
                 is_guest=guest, is_cancelled=cancelled)  # fmt: skip


def test_posting_and_contact_policies_decide_per_record(world):
    with tenant_scope(world.tenant_b1):
        other = ConnectionFactory(tenant=world.tenant_b1)
        PostingPolicy.objects.create(tenant=world.tenant_b1, source_connection=other, invoice_states=["pending"])
    with tenant_scope(world.tenant_a1):
        source = ConnectionFactory(tenant=world.tenant_a1)
        assert order_invoice_decision(source_connection=source, order=an_order()) == (True, "posting policy allows it")
        assert not order_invoice_decision(source_connection=source, order=an_order(cancelled=True))[0]
        PostingPolicy.objects.create(tenant=world.tenant_a1, source_connection=source, invoice_states=["complete"])
        allowed, why = order_invoice_decision(source_connection=source, order=an_order("processing"))
        assert not allowed and "“processing” are not invoiced" in why
        assert order_invoice_decision(source_connection=source, order=an_order("complete"))[0]

        ContactPolicy.objects.create(
            tenant=world.tenant_a1,
            source_connection=source,
            sync_customer_groups=["2"],
            guests_contact_name="Web shop customers",
            match_order=["contact_number", "email"],
        )
        assert not contact_sync_decision(source_connection=source, contact=an_order(group="1").contact)[0]
        assert contact_sync_decision(source_connection=source, contact=an_order(group="2").contact)[0]
        assert invoice_contact(source_connection=source, order=an_order(guest=True)).name == "Web shop customers"
        assert invoice_contact(source_connection=source, order=an_order(group="2")).source_id == "7"
        plan = contact_match_plan(source_connection=source, contact=an_order(group="2").contact)
        assert plan == [("contact_number", f"LB{source.pk}-7"), ("email", "a@example.com")]
