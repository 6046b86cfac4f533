"""Cin7 webhooks: subscriptions, thin payloads, header/credential auth (no signature), retries, deactivation."""

import base64
import json
from datetime import timedelta

import httpx
from django.utils import timezone

from sandbox.cin7.generator import generate
from sandbox.cin7.webhooks import webhook_deliveries_deliver

HOOK = {
    "Type": "Sale/FullPaymentReceived",
    "Name": "Paid",
    "IsActive": True,
    "ExternalURL": "https://receiver.example/hooks/cin7",
    "ExternalAuthorizationType": "basicauth",
    "ExternalUserName": "ledger",
    "ExternalPassword": "s3cret",
    "ExternalHeaders": [{"Key": "X-Hook-Token", "Value": "tok-123"}],
}


class Receiver:
    """A webhook receiver behind httpx.MockTransport: records requests, answers with the given statuses."""

    def __init__(self, *statuses):
        self.requests, self.statuses = [], list(statuses)

    def __call__(self, request):
        self.requests.append(request)
        return httpx.Response(self.statuses.pop(0) if self.statuses else 200)

    def client(self):
        return httpx.Client(transport=httpx.MockTransport(self))


def pay_in_full(client):
    entry = client.get("saleList", params={"Status": "INVOICED"}).json()["SaleList"][0]
    sale = client.get("sale", params={"ID": entry["SaleID"]}).json()
    invoice = sale["Invoices"][0]
    due = round(invoice["Total"] - sum(p["Amount"] for p in invoice["Payments"]), 2)
    answer = client.post("sale/payment", json={"SaleID": sale["ID"], "TaskID": invoice["TaskID"], "Amount": due})
    assert answer.status_code == 200 and answer.json()["Type"] == "Payment"
    return sale


def test_subscriptions_are_listed_and_validated(client_a, client_b):
    created = client_a.post("webhooks", json=HOOK)
    assert created.status_code == 200 and created.json()["ID"]
    assert [w["Type"] for w in client_a.get("webhooks").json()["Webhooks"]] == ["Sale/FullPaymentReceived"]
    assert client_b.get("webhooks").json()["Webhooks"] == []
    bad = client_a.post("webhooks", json=HOOK | {"Type": "Sale/Paid"})
    assert bad.status_code == 400 and "not a valid webhook type" in bad.json()[0]["Exception"]
    for _ in range(4):
        assert client_a.post("webhooks", json=HOOK).status_code == 200
    sixth = client_a.post("webhooks", json=HOOK)
    assert sixth.status_code == 400 and "Maximum 5" in sixth.json()[0]["Exception"]


def test_full_payment_delivers_a_thin_payload_with_the_configured_credentials(client_a, account_a):
    generate(account=account_a.account_id, seed=8, customers=5, orders=30)
    client_a.post("webhooks", json=HOOK)
    sale = pay_in_full(client_a)
    receiver = Receiver()
    # Cin7 sends the first attempt a minute after the event.
    assert webhook_deliveries_deliver(client=receiver.client())["delivered"] == 0
    later = timezone.now() + timedelta(minutes=1, seconds=1)
    assert webhook_deliveries_deliver(client=receiver.client(), now=later) == {
        "delivered": 1,
        "retrying": 0,
        "failed": 0,
    }
    request = receiver.requests[0]
    assert str(request.url) == HOOK["ExternalURL"] and request.method == "POST"
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(b"ledger:s3cret").decode()
    assert request.headers["X-Hook-Token"] == "tok-123"
    assert "signature" not in " ".join(request.headers.keys()).lower()
    assert json.loads(request.content) == {
        "SaleID": sale["ID"],
        "SaleOrderNumber": sale["Order"]["SaleOrderNumber"],
        "EventType": "Sale/FullPaymentReceived",
    }


def test_partial_payment_fires_its_own_event_with_bearer_auth(client_a, account_a):
    generate(account=account_a.account_id, seed=8, customers=5, orders=30)
    hook = HOOK | {"Type": "Sale/PartialPaymentReceived", "ExternalAuthorizationType": "bearerauth",
                   "ExternalBearerToken": "bear-1", "ExternalHeaders": []}  # fmt: skip
    client_a.post("webhooks", json=hook)
    client_a.post("webhooks", json=HOOK)  # the full-payment hook must stay silent
    entry = client_a.get("saleList", params={"Status": "INVOICED"}).json()["SaleList"][0]
    sale = client_a.get("sale", params={"ID": entry["SaleID"]}).json()
    client_a.post("sale/payment", json={"SaleID": sale["ID"], "TaskID": sale["Invoices"][0]["TaskID"], "Amount": 0.5})
    receiver = Receiver()
    webhook_deliveries_deliver(client=receiver.client(), now=timezone.now() + timedelta(minutes=2))
    assert len(receiver.requests) == 1
    assert receiver.requests[0].headers["Authorization"] == "Bearer bear-1"
    assert json.loads(receiver.requests[0].content)["EventType"] == "Sale/PartialPaymentReceived"


def test_failed_deliveries_follow_cin7s_schedule_then_deactivate_the_webhook(client_a, account_a):
    generate(account=account_a.account_id, seed=8, customers=5, orders=30)
    client_a.post("webhooks", json=HOOK)
    pay_in_full(client_a)
    receiver = Receiver(500, 500, 500, 500, 500, 500)
    now = timezone.now() + timedelta(minutes=1, seconds=1)
    outcomes = []
    for delay in (0, 5, 10, 15, 20, 25):
        now += timedelta(minutes=delay)
        # Just before the next attempt is due nothing is sent.
        nothing = {"delivered": 0, "retrying": 0, "failed": 0}
        assert webhook_deliveries_deliver(client=receiver.client(), now=now - timedelta(seconds=2)) == nothing
        outcomes.append(webhook_deliveries_deliver(client=receiver.client(), now=now))
    assert [o["retrying"] for o in outcomes[:5]] == [1] * 5 and outcomes[5]["failed"] == 1
    assert len(receiver.requests) == 6
    assert client_a.get("webhooks").json()["Webhooks"][0]["IsActive"] is False


def test_a_retry_that_succeeds_is_delivered_once(client_a, account_a):
    generate(account=account_a.account_id, seed=8, customers=5, orders=30)
    client_a.post("webhooks", json=HOOK)
    pay_in_full(client_a)
    receiver = Receiver(503)
    first = timezone.now() + timedelta(minutes=1, seconds=1)
    assert webhook_deliveries_deliver(client=receiver.client(), now=first)["retrying"] == 1
    assert webhook_deliveries_deliver(client=receiver.client(), now=first + timedelta(minutes=5))["delivered"] == 1
    assert webhook_deliveries_deliver(client=receiver.client(), now=first + timedelta(hours=2)) == {
        "delivered": 0, "retrying": 0, "failed": 0,
    }  # fmt: skip
    assert len(receiver.requests) == 2


def test_overpaying_or_paying_a_voided_sale_answers_200_with_errors(client_a, account_a):
    generate(account=account_a.account_id, seed=8, customers=5, orders=40)
    entry = client_a.get("saleList", params={"Status": "INVOICED"}).json()["SaleList"][0]
    sale = client_a.get("sale", params={"ID": entry["SaleID"]}).json()
    over = client_a.post("sale/payment", json={"SaleID": sale["ID"], "TaskID": sale["Invoices"][0]["TaskID"],
                                               "Amount": sale["Invoices"][0]["Total"] + 100})  # fmt: skip
    assert over.status_code == 200 and over.json()["Errors"][0]["ErrorCode"] == 400
    voided = client_a.get("saleList", params={"Status": "VOIDED"}).json()["SaleList"][0]
    refused = client_a.post("sale/payment", json={"SaleID": voided["SaleID"], "Amount": 1})
    assert refused.status_code == 200 and refused.json()["Errors"][0]["Exception"] == "Sale is voided"
    unknown = client_a.post("sale/payment", json={"SaleID": "00000000-0000-0000-0000-000000000000", "Amount": 1})
    assert unknown.status_code == 400 and isinstance(unknown.json(), list)


def test_customer_update_fires_customer_updated(client_a, account_a):
    generate(account=account_a.account_id, seed=8, customers=3, orders=1)
    client_a.post("webhooks", json=HOOK | {"Type": "Customer/Updated", "ExternalAuthorizationType": "noauth"})
    customer = client_a.get("customer").json()["CustomerList"][0]
    updated = client_a.put("customer", json={"ID": customer["ID"], "Comments": "VIP"})
    assert updated.json()["CustomerList"][0]["Comments"] == "VIP"
    receiver = Receiver()
    webhook_deliveries_deliver(client=receiver.client(), now=timezone.now() + timedelta(minutes=2))
    payload = json.loads(receiver.requests[0].content)
    assert payload == {"ID": customer["ID"], "Name": customer["Name"], "EventType": "Customer/Updated"}
    assert "Authorization" not in receiver.requests[0].headers
