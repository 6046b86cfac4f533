"""Webhooks: signed deliveries of CONTACT/INVOICE/CREDITNOTE events, intent-to-receive, retries."""

import base64
import hashlib
import hmac
import json
from datetime import timedelta

import httpx
import pytest
from django.utils import timezone

from sandbox.xero.models import WebhookDelivery, XeroApp
from sandbox.xero.services.webhooks import webhook_intent_to_receive, webhooks_deliver

HOOK = "https://receiver.test/webhooks/xero"


class Receiver:
    """A product-like endpoint: verifies x-xero-signature on the raw body, 200 if valid, 401 if not."""

    def __init__(self, key: str, *, verify: bool = True, fail_with: int | None = None):
        self.key, self.verify, self.fail_with = key, verify, fail_with
        self.accepted: list[dict] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        expected = base64.b64encode(hmac.new(self.key.encode(), request.content, hashlib.sha256).digest()).decode()
        if self.verify and not hmac.compare_digest(expected, request.headers["x-xero-signature"]):
            return httpx.Response(401)
        if self.fail_with:
            return httpx.Response(self.fail_with)
        self.accepted.append(json.loads(request.content))
        return httpx.Response(200)


@pytest.fixture
def app(org_a):
    app = XeroApp.objects.get(client_id=org_a.info["client_id"])
    app.webhook_url = HOOK
    app.save()
    return app


def _client(receiver) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(receiver))


def test_intent_to_receive_passes_only_for_a_verifying_endpoint(app):
    assert webhook_intent_to_receive(app=app, client=_client(Receiver(app.webhook_key))) is True
    assert webhook_intent_to_receive(app=app, client=_client(Receiver(app.webhook_key, verify=False))) is False
    app.refresh_from_db()
    assert app.webhook_enabled is False


def test_writes_are_delivered_as_signed_events(app, org_a, org_b, make_invoice):
    receiver = Receiver(app.webhook_key)
    with _client(receiver) as client:
        assert webhook_intent_to_receive(app=app, client=client)
        contact = org_a.put("Contacts", {"Contacts": [{"Name": "Hooked"}]}).json()["Contacts"][0]
        org_a.post(f"Contacts/{contact['ContactID']}", {"Contacts": [{"EmailAddress": "h@x.test"}]})
        org_b.put("Contacts", {"Contacts": [{"Name": "Other org"}]})
        counts = webhooks_deliver(client=client)
    assert counts["delivered"] >= 1
    events = [e for payload in receiver.accepted for e in payload["events"]]
    mine = [e for e in events if e["resourceId"] == contact["ContactID"]]
    assert [(e["eventCategory"], e["eventType"]) for e in mine] == [("CONTACT", "CREATE"), ("CONTACT", "UPDATE")]
    assert mine[0]["tenantId"] == org_a.tenant_id and mine[0]["tenantType"] == "ORGANISATION"
    assert mine[0]["resourceUrl"].endswith(f"/Contacts/{contact['ContactID']}")
    # Org B is connected to the same app, so its events arrive too, with its own tenantId.
    assert {e["tenantId"] for e in events} == {org_a.tenant_id, org_b.tenant_id}
    payload = next(p for p in receiver.accepted if p["events"])  # the first one was intent-to-receive
    assert payload["firstEventSequence"] >= 1 and payload["lastEventSequence"] >= payload["firstEventSequence"]
    assert payload["entropy"]


def test_invoice_and_credit_note_events(app, org_a, contact_id):
    receiver = Receiver(app.webhook_key)
    with _client(receiver) as client:
        webhook_intent_to_receive(app=app, client=client)
        invoice = {"Type": "ACCREC", "Contact": {"ContactID": contact_id}, "LineItems": []}
        org_a.put("Invoices", {"Invoices": [invoice]})
        note = {"Type": "ACCPAYCREDIT", "Contact": {"ContactID": contact_id}, "LineItems": []}
        org_a.put("CreditNotes", {"CreditNotes": [note]})
        webhooks_deliver(client=client)
    events = [e for payload in receiver.accepted for e in payload["events"]]
    categories = [e["eventCategory"] for e in events]
    assert "INVOICE" in categories and "CREDITNOTE" in categories
    credit = next(e for e in events if e["eventCategory"] == "CREDITNOTE")
    assert credit["data"] == {"Type": "ACCPAYCREDIT", "Status": "DRAFT"}


def test_no_delivery_before_intent_to_receive(app, org_a):
    receiver = Receiver(app.webhook_key)
    org_a.put("Contacts", {"Contacts": [{"Name": "Waiting"}]})
    assert webhooks_deliver(client=_client(receiver)) == {"delivered": 0, "retrying": 0, "failed": 0}
    assert WebhookDelivery.objects.filter(status="pending").count() == 1


def test_failed_delivery_is_retried_with_the_same_bytes_then_given_up(app, org_a):
    receiver = Receiver(app.webhook_key)
    webhook_intent_to_receive(app=app, client=_client(receiver))
    org_a.put("Contacts", {"Contacts": [{"Name": "Flaky"}]})
    failing = Receiver(app.webhook_key, fail_with=500)
    assert webhooks_deliver(client=_client(failing))["retrying"] == 1
    delivery = WebhookDelivery.objects.get()
    body, first_retry = bytes(delivery.body), delivery.next_attempt_at
    assert delivery.attempts == 1 and first_retry > timezone.now()
    # Not yet due: nothing is sent.
    assert webhooks_deliver(client=_client(failing))["retrying"] == 0
    assert webhooks_deliver(client=_client(failing), now=first_retry)["retrying"] == 1
    delivery.refresh_from_db()
    assert bytes(delivery.body) == body
    assert delivery.next_attempt_at - first_retry > first_retry - delivery.created_at  # decreasing frequency
    # Succeeds on a later attempt.
    assert webhooks_deliver(client=_client(receiver), now=delivery.next_attempt_at)["delivered"] == 1
    assert receiver.accepted[-1]["events"][0]["eventCategory"] == "CONTACT"


def test_deliveries_stop_after_24_hours_and_the_webhook_is_disabled(app, org_a):
    webhook_intent_to_receive(app=app, client=_client(Receiver(app.webhook_key)))
    org_a.put("Contacts", {"Contacts": [{"Name": "Gone"}]})
    WebhookDelivery.objects.update(created_at=timezone.now() - timedelta(hours=23, minutes=59))
    counts = webhooks_deliver(client=_client(Receiver(app.webhook_key, fail_with=503)))
    assert counts["failed"] == 1
    app.refresh_from_db()
    assert app.webhook_enabled is False


def test_deliveries_have_the_documented_shape(app, org_a, settings):
    """Every event the simulator sends carries exactly the fields of Xero's documented examples."""
    documented = json.loads((settings.SHARED_DIR / "research" / "payloads" / "xero_webhook_examples.json").read_text())
    example = documented["contact_update"]
    receiver = Receiver(app.webhook_key)
    with _client(receiver) as client:
        webhook_intent_to_receive(app=app, client=client)
        org_a.put("Contacts", {"Contacts": [{"Name": "Shape Check Ltd"}]})
        webhooks_deliver(client=client)
    (delivery,) = [body for body in receiver.accepted if body["events"]]  # the rest is the intent-to-receive ping
    assert set(delivery) == set(example)
    for event in delivery["events"]:
        assert set(event) - {"data"} == set(example["events"][0])
        assert event["eventCategory"] == "CONTACT" and event["tenantId"] == org_a.tenant_id
