"""A payment or a credit-note allocation applied in Xero whose answer was lost (the sandbox's apply-then-drop
fault) is found on its invoice or credit note when retried, after Xero has forgotten the Idempotency-Key: it is
applied once, never twice. Two tenants: the other one's payments and credit go through untouched."""

from datetime import timedelta
from decimal import Decimal

import httpx
import pytest
from django.utils import timezone

from connections.providers.xero.tokens import xero_client_for
from connections.services import connection_create
from sandbox.faults import fault_profile_set
from sandbox.xero.models import IdempotentResponse, Organisation
from sync.models import AuditEntry, CrossReference, SyncJob
from sync.services.drain import drain_run
from sync.services.processing import inbound_events_process_pending
from tenants import services as tenant_services
from tenants.scoping import tenant_scope
from tests.sync.flow_helpers import TRANSPORT, drain_until_idle, held_causes, map_everything, xero_for, xero_read

pytestmark = pytest.mark.django_db

CONTACT = {"id": "C-1", "email": "ana@lima.example", "first_name": "Ana", "last_name": "Lima"}
# 2 × 20.00 + 10 % tax = 44.00.
ORDER = {"id": "SO-1", "currency": "AUD", "created_at": "2025-03-01T10:00:00Z", "grand_total": "44.00",
         "contact": CONTACT,
         "lines": [{"line_id": "1", "sku": "MUG-1", "description": "Mug", "quantity": "2", "unit_price": "20.00",
                    "tax": "4.00", "tax_code": "GST", "tax_rate": "10"}]}  # fmt: skip
PAYMENT = {"id": "PAY-1", "order_id": "SO-1", "amount": "10.00", "currency": "AUD", "method": "card",
           "paid_at": "2025-03-01T11:00:00Z", "reference": "ch_1"}  # fmt: skip
# One mug back: 20.00 + 2.00 tax, credited against what is still due.
REFUND = {"id": "R-1", "order_id": "SO-1", "currency": "AUD", "refunded_at": "2025-03-05T09:00:00Z", "total": "22.00",
          "lines": [{"line_id": "1", "sku": "MUG-1", "description": "Mug", "quantity": "1", "amount": "20.00",
                     "tax": "2.00", "tax_code": "GST", "tax_rate": "10"}]}  # fmt: skip


class Partner:
    """A tenant whose partner system pushed one order, now invoiced in its Xero organisation."""

    def __init__(self, tenant, agency, api, *, name: str):
        self.tenant, self.api = tenant, api
        with tenant_scope(tenant):
            self.xero, self.org = xero_for(tenant, name=f"Org {name}")
            self.source = connection_create(tenant=tenant, provider_id="rest", display_name=name)
        _, self.key = tenant_services.api_key_create(agency=agency, name=name)
        self.push("contacts", CONTACT)
        self.push("orders", ORDER)
        with tenant_scope(tenant):
            inbound_events_process_pending(transport=TRANSPORT)
            map_everything(self.source, self.xero)
            drain_until_idle(self.xero)
            assert not held_causes(self.xero)

    def push(self, entity: str, record: dict) -> None:
        self.api.credentials(HTTP_AUTHORIZATION=f"Bearer {self.key}")
        url = f"/api/v1/tenants/{self.tenant.pk}/ingest/{entity}/"
        assert self.api.post(url, {"records": [record]}, format="json").status_code == 202

    def drain_one_batch(self, *, answer_lost: bool):
        """One batch, with Xero applying every write and dropping its answer when `answer_lost`; the client makes
        one attempt (its own retry would replay the Idempotency-Key at once)."""
        fault_profile_set(system="xero", account=self.org["tenant_id"], drop_rate=1.0 if answer_lost else 0.0)
        with tenant_scope(self.tenant):
            inbound_events_process_pending(transport=TRANSPORT)
            map_everything(self.source, self.xero)  # the payment method's account, say
            return drain_run(
                xero_connection=self.xero,
                transport=TRANSPORT,
                client_factory=lambda connection, transport: xero_client_for(
                    connection, transport=transport, max_attempts=1
                ),
                max_batches=1,
            )

    def retry_after_xero_forgot_the_key(self):
        """The retry comes after the schedule's wait, by when Xero no longer remembers the Idempotency-Key."""
        org = Organisation.objects.get(tenant_id=self.org["tenant_id"])
        IdempotentResponse.objects.filter(org=org).update(created_at=timezone.now() - timedelta(minutes=10))
        with tenant_scope(self.tenant):
            SyncJob.objects.filter(state=SyncJob.State.PENDING).update(next_attempt_at=timezone.now())
        return self.drain_one_batch(answer_lost=False)

    def invoice(self) -> dict:
        with tenant_scope(self.tenant):
            invoice_id = CrossReference.objects.get(entity="invoice", source_id="SO-1").xero_id
            (invoice,) = xero_read(self.xero, "Invoices", IDs=invoice_id)
        return invoice

    def job(self, operation: str) -> SyncJob:
        with tenant_scope(self.tenant):
            return SyncJob.objects.get(operation=operation)

    def matched(self) -> list[str]:
        with tenant_scope(self.tenant):
            return list(AuditEntry.objects.filter(outcome="matched").values_list("operation", flat=True))


@pytest.fixture
def partners(world, api):
    return Partner(world.tenant_a1, world.agency_a, api, name="crm-a"), Partner(
        world.tenant_b1, world.agency_b, api, name="crm-b"
    )


def test_a_payment_whose_answer_was_lost_is_not_paid_twice(partners):
    mine, other = partners
    for partner in partners:
        partner.push("payments", PAYMENT)
    report = mine.drain_one_batch(answer_lost=True)
    assert report.retrying == 1 and mine.job("payment.create").state == "pending"
    assert len(mine.invoice()["Payments"]) == 1  # Xero did apply it

    report = mine.retry_after_xero_forgot_the_key()

    assert report.matched == 1 and mine.job("payment.create").state == "done"
    invoice = mine.invoice()
    assert len(invoice["Payments"]) == 1 and invoice["AmountPaid"] == Decimal("10.00")
    with tenant_scope(mine.tenant):
        assert CrossReference.objects.get(entity="payment").xero_id == invoice["Payments"][0]["PaymentID"]
    assert mine.matched() == ["payment.create"]
    # The other tenant's payment of the same amount, same day and reference, goes through on its own.
    assert other.drain_one_batch(answer_lost=False).done == 1
    assert other.invoice()["AmountPaid"] == Decimal("10.00") and other.matched() == []


class _AnswerLostThenThrottled(httpx.BaseTransport):
    """Xero applies the first write and its answer is lost; the client's retry in place meets a 429."""

    def __init__(self):
        self.writes = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method in ("PUT", "POST"):
            self.writes += 1
            if self.writes == 1:
                TRANSPORT.handle_request(request)
                raise httpx.ReadTimeout("the answer never came", request=request)
            if self.writes == 2:
                return httpx.Response(429, headers={"Retry-After": "60"}, request=request)
        return TRANSPORT.handle_request(request)


def test_a_payment_whose_answer_was_lost_and_whose_retry_was_throttled_is_not_paid_twice(partners):
    """The 429 that ends the request says nothing about the attempt before it, which Xero applied: the job spends
    an attempt, so its retry (in another batch, under another Idempotency-Key) finds the payment first."""
    mine, other = partners
    for partner in partners:
        partner.push("payments", PAYMENT)
    with tenant_scope(mine.tenant):
        inbound_events_process_pending(transport=TRANSPORT)
        map_everything(mine.source, mine.xero)
        report = drain_run(
            xero_connection=mine.xero,
            transport=_AnswerLostThenThrottled(),
            client_factory=lambda connection, transport: xero_client_for(
                connection, transport=transport, max_attempts=2, rate_limiter=False, sleep=lambda seconds: None
            ),
            max_batches=1,
        )
    assert report.retrying == 1
    job = mine.job("payment.create")
    assert (job.state, job.attempts, job.error_code) == ("pending", 1, "provider_rate_limited")
    assert len(mine.invoice()["Payments"]) == 1  # Xero did apply it

    report = mine.retry_after_xero_forgot_the_key()

    assert report.matched == 1 and mine.job("payment.create").state == "done"
    invoice = mine.invoice()
    assert len(invoice["Payments"]) == 1 and invoice["AmountPaid"] == Decimal("10.00")
    assert other.drain_one_batch(answer_lost=False).done == 1
    assert other.invoice()["AmountPaid"] == Decimal("10.00") and other.matched() == []


def test_a_payment_changed_after_it_reached_xero_is_never_paid_again(partners):
    """Xero creates payments, never edits them: a newer version that changes what Xero holds is held with the
    reason, one that changes nothing there (the time of day) is done without a call."""
    mine, other = partners
    for partner in partners:
        partner.push("payments", PAYMENT)
        assert partner.drain_one_batch(answer_lost=False).done == 1

    mine.push("payments", {**PAYMENT, "paid_at": "2025-03-01T11:30:00Z"})
    report = mine.drain_one_batch(answer_lost=False)
    assert (report.sent, report.matched) == (0, 1)

    mine.push("payments", {**PAYMENT, "amount": "12.00"})
    report = mine.drain_one_batch(answer_lost=False)
    assert (report.sent, report.needs_attention) == (0, 1)
    with tenant_scope(mine.tenant):
        held = SyncJob.objects.get(state=SyncJob.State.NEEDS_ATTENTION)
        paid = CrossReference.objects.get(entity="payment").xero_id
    assert held.error_code == "applied_already" and paid in held.cause and "cannot edit a payment" in held.cause
    invoice = mine.invoice()
    assert len(invoice["Payments"]) == 1 and invoice["AmountPaid"] == Decimal("10.00")
    assert len(other.invoice()["Payments"]) == 1 and other.drain_one_batch(answer_lost=False).sent == 0


def test_an_allocation_whose_answer_was_lost_is_not_allocated_twice(partners):
    mine, other = partners
    for partner in partners:
        partner.push("refunds", REFUND)
        assert partner.drain_one_batch(answer_lost=False).by_operation == {"credit_note.create": 1}
    report = mine.drain_one_batch(answer_lost=True)
    assert report.retrying == 1 and mine.job("credit_note.allocate").state == "pending"
    assert mine.invoice()["AmountCredited"] == Decimal("22.00")  # Xero did apply it

    report = mine.retry_after_xero_forgot_the_key()

    assert report.matched == 1 and mine.job("credit_note.allocate").state == "done"
    invoice = mine.invoice()
    assert (invoice["AmountCredited"], invoice["AmountDue"]) == (Decimal("22.00"), Decimal("22.00"))
    assert mine.matched() == ["credit_note.allocate"]
    assert other.drain_one_batch(answer_lost=False).done == 1
    assert other.invoice()["AmountCredited"] == Decimal("22.00") and other.matched() == []


def test_a_credit_note_whose_answer_was_lost_is_not_created_twice(partners):
    mine, other = partners
    for partner in partners:
        partner.push("refunds", REFUND)
    report = mine.drain_one_batch(answer_lost=True)
    assert report.retrying == 1 and mine.job("credit_note.create").state == "pending"

    report = mine.retry_after_xero_forgot_the_key()

    assert report.matched == 1 and mine.job("credit_note.create").state == "done"
    with tenant_scope(mine.tenant):
        credit_notes = xero_read(mine.xero, "CreditNotes")
        assert CrossReference.objects.get(entity="credit_note").xero_id == credit_notes[0]["CreditNoteID"]
    assert len(credit_notes) == 1 and credit_notes[0]["Total"] == Decimal("22.00")
    assert mine.matched() == ["credit_note.create"]
    # The other tenant's credit note with the same number is its own, created once in its own organisation.
    assert other.drain_one_batch(answer_lost=False).done == 1
    with tenant_scope(other.tenant):
        assert len(xero_read(other.xero, "CreditNotes")) == 1
    assert other.matched() == []


def test_a_refund_of_a_part_paid_order_is_allocated_up_to_what_is_still_due(partners):
    """The amount due is the invoice's total less what the engine already applied to it (read back from what
    was sent): 44.00 less a 30.00 payment leaves 14.00 to credit, and the rest of the 22.00 stays as credit."""
    mine, other = partners
    payment = {**PAYMENT, "amount": "30.00"}
    mine.push("payments", payment)
    assert mine.drain_one_batch(answer_lost=False).done == 1
    for partner in partners:
        partner.push("refunds", REFUND)
        with tenant_scope(partner.tenant):
            inbound_events_process_pending(transport=TRANSPORT)
            drain_until_idle(partner.xero)
            assert not held_causes(partner.xero)

    invoice = mine.invoice()
    assert (invoice["AmountPaid"], invoice["AmountCredited"], invoice["AmountDue"]) == (
        Decimal("30.00"),
        Decimal("14.00"),
        Decimal("0.00"),
    )
    # The other tenant's unpaid order takes the whole refund.
    assert (other.invoice()["AmountCredited"], other.invoice()["AmountDue"]) == (Decimal("22.00"), Decimal("22.00"))
