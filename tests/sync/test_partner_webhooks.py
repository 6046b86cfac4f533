"""Outbound partner webhooks, end to end over HTTP into the sandbox's partner receiver."""

import socket
from decimal import Decimal

import httpx
import pytest
from django.utils import timezone

from connections.admin import PartnerWebhookEndpointForm
from connections.models import Connection, PartnerWebhookEndpoint
from core.errors import ApplicationError
from sandbox.partner.services import partner_deliveries, partner_receiver_set
from sandbox.transport import SandboxTransport
from sync.models import WriteBack, WriteBackAttempt
from sync.services.failures import BACKOFF_SECONDS
from sync.services.partner_webhooks import partner_event_emit, partner_webhook_endpoint_set
from sync.services.write_backs import write_backs_replay, write_backs_run
from tenants.scoping import tenant_scope
from tests.factories import ConnectionFactory
from tests.sync.webhook_helpers import partner_signature_verify

pytestmark = pytest.mark.django_db
State = WriteBack.State
HOOKS = "http://testserver/sandbox/partner/{}/hooks"
EVENTS = ["invoice.paid", "invoice.part_paid", "invoice.voided", "contact.updated"]


def _partner(tenant, receiver: str, *, url=None, events=EVENTS) -> tuple[Connection, str]:
    with tenant_scope(tenant):
        connection = ConnectionFactory(tenant=tenant, provider="rest", display_name=f"CRM {receiver}", credentials={})
        _, secret = partner_webhook_endpoint_set(
            connection=connection, url=url or HOOKS.format(receiver), events=events
        )
    return connection, secret


def _run(tenant, connection):
    with tenant_scope(tenant):
        return write_backs_run(connection=connection, transport=SandboxTransport())


def _due_now(tenant):
    with tenant_scope(tenant):
        WriteBack.objects.filter(state=State.PENDING).update(next_attempt_at=timezone.now())


def test_partner_receives_a_signed_event_it_can_verify(world):
    connection, secret = _partner(world.tenant_a1, "crm-a")
    assert secret.startswith("whsec_")
    with tenant_scope(world.tenant_a1):
        data = {"id": "inv-1", "number": "INV-0001", "amount_paid": Decimal("12.50"), "status": "PAID"}
        write_back = partner_event_emit(connection=connection, event="invoice.paid", data=data, key="inv-1:PAID")
        assert write_back.state == State.PENDING  # the caller did not wait on the partner
    assert _run(world.tenant_a1, connection) == {State.DONE: 1}

    (delivery,) = partner_deliveries(name="crm-a")
    body = partner_signature_verify(delivery, secret)
    assert body["event"] == "invoice.paid" and body["id"] == str(write_back.pk)
    assert body["data"] == {"id": "inv-1", "number": "INV-0001", "amount_paid": "12.50", "status": "PAID"}
    assert delivery.headers["Ledgerbridge-Event"] == "invoice.paid"
    assert delivery.headers["Ledgerbridge-Delivery"] == str(write_back.pk)
    # A tampered body or another secret does not verify.
    delivery.body = bytes(delivery.body).replace(b"12.50", b"99.50")
    with pytest.raises(AssertionError):
        partner_signature_verify(delivery, secret)
    with tenant_scope(world.tenant_a1):
        (attempt,) = WriteBackAttempt.objects.filter(write_back=write_back)
        assert attempt.ok and attempt.status_code == 200 and attempt.number == 1
        assert '"received": true' in attempt.response_excerpt


def test_emitting_the_same_key_twice_delivers_once_and_unsubscribed_events_not_at_all(world):
    connection, _ = _partner(world.tenant_a1, "crm-once", events=["invoice.paid"])
    with tenant_scope(world.tenant_a1):
        first = partner_event_emit(connection=connection, event="invoice.paid", data={"id": "x"}, key="x:PAID")
        again = partner_event_emit(connection=connection, event="invoice.paid", data={"id": "x"}, key="x:PAID")
        assert again.pk == first.pk
        assert partner_event_emit(connection=connection, event="invoice.voided", data={"id": "x"}, key="x:V") is None
        with pytest.raises(ApplicationError):
            partner_event_emit(connection=connection, event="invoice.eaten", data={}, key="x")
    _run(world.tenant_a1, connection)
    _run(world.tenant_a1, connection)
    assert len(partner_deliveries(name="crm-once")) == 1


def test_failure_then_retry_then_success_is_in_the_delivery_log_and_replay_sends_again(world):
    connection, secret = _partner(world.tenant_a1, "crm-flaky")
    partner_receiver_set(name="crm-flaky", fail_next=2, fail_status=503)
    with tenant_scope(world.tenant_a1):
        write_back = partner_event_emit(connection=connection, event="invoice.voided", data={"id": "v"}, key="v")
    assert _run(world.tenant_a1, connection) == {State.PENDING: 1}
    with tenant_scope(world.tenant_a1):
        write_back.refresh_from_db()
        assert write_back.next_attempt_at > timezone.now()  # backed off, not hammered
        assert "503" in write_back.cause
    assert _run(world.tenant_a1, connection) == {}  # not due yet
    _due_now(world.tenant_a1)
    _run(world.tenant_a1, connection)
    _due_now(world.tenant_a1)
    assert _run(world.tenant_a1, connection) == {State.DONE: 1}
    with tenant_scope(world.tenant_a1):
        log = list(WriteBackAttempt.objects.filter(write_back=write_back).values_list("number", "ok", "status_code"))
        assert log == [(1, False, 503), (2, False, 503), (3, True, 200)]
        assert all(a.latency_ms >= 0 for a in WriteBackAttempt.objects.all())
    deliveries = partner_deliveries(name="crm-flaky")
    # Every attempt carries the same delivery id and the same body, each freshly signed.
    assert {d.headers["Ledgerbridge-Delivery"] for d in deliveries} == {str(write_back.pk)}
    assert len({bytes(d.body) for d in deliveries}) == 1
    for delivery in deliveries:
        partner_signature_verify(delivery, secret)

    with tenant_scope(world.tenant_a1):
        assert write_backs_replay(actor="ops@example.com", ids=[write_back.pk]) == 1
    assert _run(world.tenant_a1, connection) == {State.DONE: 1}
    assert len(partner_deliveries(name="crm-flaky")) == 4


def test_a_partner_that_never_answers_ends_as_a_dead_letter_with_the_reason(world):
    connection, _ = _partner(world.tenant_a1, "crm-down")
    partner_receiver_set(name="crm-down", drop_next=len(BACKOFF_SECONDS) + 1)
    with tenant_scope(world.tenant_a1):
        write_back = partner_event_emit(connection=connection, event="invoice.paid", data={"id": "d"}, key="d")
    for _ in range(len(BACKOFF_SECONDS) + 1):
        _due_now(world.tenant_a1)
        _run(world.tenant_a1, connection)
    with tenant_scope(world.tenant_a1):
        write_back.refresh_from_db()
        assert write_back.state == State.DEAD
        assert "did not answer in time" in write_back.cause and write_back.error_code == "timeout"
        assert WriteBackAttempt.objects.filter(write_back=write_back).count() == len(BACKOFF_SECONDS) + 1


def test_a_url_that_cannot_be_requested_is_a_dead_letter_at_once(world):
    connection, _ = _partner(world.tenant_a1, "crm-bad")
    with tenant_scope(world.tenant_a1):
        # Stored before validation existed, or the scheme changed under us: nothing to retry.
        PartnerWebhookEndpoint.objects.filter(connection=connection).update(url="ftp://partner.example/hooks")
        write_back = partner_event_emit(connection=connection, event="invoice.paid", data={"id": "b"}, key="b")
    assert _run(world.tenant_a1, connection) == {State.DEAD: 1}
    with tenant_scope(world.tenant_a1):
        write_back.refresh_from_db()
        assert write_back.error_code == "bad_url" and "cannot be used" in write_back.cause


def test_endpoint_settings_are_validated_and_the_secret_is_never_stored_in_clear(world):
    with tenant_scope(world.tenant_a1):
        magento = ConnectionFactory(tenant=world.tenant_a1)
        with pytest.raises(ApplicationError):
            partner_webhook_endpoint_set(connection=magento, url=HOOKS.format("x"), events=["invoice.paid"])
        partner = ConnectionFactory(tenant=world.tenant_a1, provider="rest", credentials={})
        for url, events in (("not a url", ["invoice.paid"]), (HOOKS.format("x"), []), (HOOKS.format("x"), ["nope"])):
            with pytest.raises(ApplicationError):
                partner_webhook_endpoint_set(connection=partner, url=url, events=events)
        endpoint, secret = partner_webhook_endpoint_set(connection=partner, url=HOOKS.format("x"), events=EVENTS)
        assert secret not in endpoint.secret_ciphertext and secret not in str(endpoint)
        # Changing the endpoint later never shows the secret again.
        assert partner_webhook_endpoint_set(connection=partner, url=HOOKS.format("y"), events=EVENTS)[1] is None


def test_tenant_b_events_go_to_tenant_b_partner_only(world):
    connection_a, _ = _partner(world.tenant_a1, "crm-tenant-a")
    connection_b, _ = _partner(world.tenant_b1, "crm-tenant-b")
    with tenant_scope(world.tenant_b1):
        partner_event_emit(connection=connection_b, event="contact.updated", data={"id": "c"}, key="c")
    assert _run(world.tenant_a1, connection_a) == {}
    assert _run(world.tenant_b1, connection_b) == {State.DONE: 1}
    assert partner_deliveries(name="crm-tenant-a") == []
    assert len(partner_deliveries(name="crm-tenant-b")) == 1
    with tenant_scope(world.tenant_a1):
        assert not WriteBack.objects.exists()


def test_the_api_shows_the_secret_once_and_the_delivery_log_and_replays(world, api):
    api.force_login(world.owner_a)
    base = f"/api/v1/tenants/{world.tenant_a1.pk}"
    with tenant_scope(world.tenant_a1):
        partner = ConnectionFactory(tenant=world.tenant_a1, provider="rest", credentials={})
    bad = api.post(f"{base}/partner-webhooks/", {"connection": partner.pk, "url": "nope", "events": []}, format="json")
    assert bad.status_code == 400 and bad.json()["code"]
    created = api.post(
        f"{base}/partner-webhooks/",
        {"connection": partner.pk, "url": HOOKS.format("crm-api"), "events": ["invoice.paid"]},
        format="json",
    )
    assert created.status_code == 201
    secret = created.json()["secret"]
    endpoint_url = f"{base}/partner-webhooks/{created.json()['id']}/"
    assert "secret" not in api.get(endpoint_url).json()
    assert secret not in api.get(f"{base}/partner-webhooks/").content.decode()
    changed = api.patch(endpoint_url, {"events": ["invoice.paid", "invoice.voided"]}, format="json")
    assert changed.status_code == 200 and changed.json()["events"] == ["invoice.paid", "invoice.voided"]

    partner_receiver_set(name="crm-api", fail_next=1, fail_status=500)
    with tenant_scope(world.tenant_a1):
        write_back = partner_event_emit(connection=partner, event="invoice.paid", data={"id": "z"}, key="z")
    _run(world.tenant_a1, partner)
    _due_now(world.tenant_a1)
    _run(world.tenant_a1, partner)
    shown = api.get(f"{base}/write-backs/{write_back.pk}/").json()
    assert shown["state"] == "done"
    assert [(a["number"], a["ok"], a["status_code"]) for a in shown["attempt_log"]] == [(1, False, 500), (2, True, 200)]
    partner_signature_verify(partner_deliveries(name="crm-api")[-1], secret)

    # Rotating the secret shows the new one once; deliveries are signed with it from then on.
    rotated = api.post(f"{endpoint_url}rotate-secret/", {}, format="json").json()["secret"]
    assert rotated != secret
    replayed = api.post(f"{base}/write-backs/replay/", {"ids": [write_back.pk]}, format="json")
    assert replayed.json() == {"replayed": 1}
    _run(world.tenant_a1, partner)
    partner_signature_verify(partner_deliveries(name="crm-api")[-1], rotated)

    # The delivery log filters by connection; a connection that is not an id is a clear 400, not a 500.
    assert [row["id"] for row in api.get(f"{base}/write-backs/?connection={partner.pk}").json()["results"]] == [
        write_back.pk
    ]
    refused = api.get(f"{base}/write-backs/?connection=abc")
    assert refused.status_code == 400 and "connection" in refused.json()["extra"]["fields"]

    # Another tenant's write-backs are not found, and a member cannot replay.
    assert api.get(f"/api/v1/tenants/{world.tenant_b1.pk}/write-backs/").status_code == 404
    api.force_login(world.member_a)
    assert api.post(f"{base}/write-backs/replay/", {"ids": [write_back.pk]}, format="json").status_code == 403


@pytest.fixture
def partner_dns(monkeypatch):
    """host → addresses, as the partner's DNS answers now (a host not listed does not resolve)."""
    answers: dict[str, list[str]] = {}

    def getaddrinfo(host, port, *args, **kwargs):
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port)) for address in answers[host]]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


def test_webhook_urls_into_our_network_are_refused_when_saved(world, api, partner_dns):
    partner_dns["hooks.crm-a.example"] = ["10.0.0.5"]
    partner_dns["hooks.crm-b.example"] = ["93.184.216.34"]
    api.force_login(world.owner_a)
    base = f"/api/v1/tenants/{world.tenant_a1.pk}/partner-webhooks/"
    with tenant_scope(world.tenant_a1):
        partner = ConnectionFactory(tenant=world.tenant_a1, provider="rest", credentials={})
    for url, why in (
        ("https://hooks.crm-a.example/in", "resolves to 10.0.0.5, a private address"),
        ("https://169.254.169.254/latest/meta-data", "link-local"),
        ("https://[::ffff:127.0.0.1]/in", "loopback"),
        ("https://nowhere.crm-a.example/in", "could not be resolved"),
    ):
        refused = api.post(base, {"connection": partner.pk, "url": url, "events": ["invoice.paid"]}, format="json")
        assert refused.status_code == 400, refused.content
        assert why in refused.json()["message"] and why in refused.json()["extra"]["fields"]["url"][0]
    with tenant_scope(world.tenant_a1):
        assert not PartnerWebhookEndpoint.objects.exists()
    # A public host is accepted; the other tenant's partner is configured the same way, independently.
    created = api.post(
        base,
        {"connection": partner.pk, "url": "https://hooks.crm-b.example/in", "events": ["invoice.paid"]},
        format="json",
    )
    assert created.status_code == 201
    changed = api.patch(f"{base}{created.json()['id']}/", {"url": "https://hooks.crm-a.example/in"}, format="json")
    assert changed.status_code == 400 and "private address" in changed.json()["message"]
    with tenant_scope(world.tenant_a1):
        endpoint = PartnerWebhookEndpoint.objects.get()
        assert endpoint.url == "https://hooks.crm-b.example/in"
        # The admin's form refuses the same URLs.
        data = {"url": "https://hooks.crm-a.example/in", "events": '["invoice.paid"]', "is_active": True}
        form = PartnerWebhookEndpointForm(data=data, instance=endpoint)
        assert not form.is_valid() and "private address" in form.errors["url"][0]
    with tenant_scope(world.tenant_b1):
        assert not PartnerWebhookEndpoint.objects.exists()


def test_a_host_whose_dns_now_points_inside_is_refused_at_delivery_and_logged(world, partner_dns):
    partner_dns["hooks.crm-a.example"] = ["93.184.216.34"]
    partner_dns["hooks.crm-b.example"] = ["151.101.1.1"]
    mine, _ = _partner(world.tenant_a1, "crm-a", url="https://hooks.crm-a.example/in")
    theirs, _ = _partner(world.tenant_b1, "crm-b", url="https://hooks.crm-b.example/in")
    sent = []

    def partner_side(request):
        sent.append(request)
        return httpx.Response(200, json={"received": True})

    # Since the URL was saved, crm-a's DNS was changed to the cloud metadata address.
    partner_dns["hooks.crm-a.example"] = ["169.254.169.254"]
    for tenant, connection in ((world.tenant_a1, mine), (world.tenant_b1, theirs)):
        with tenant_scope(tenant):
            partner_event_emit(connection=connection, event="invoice.paid", data={"id": "i"}, key="i")
        with tenant_scope(tenant):
            write_backs_run(connection=connection, transport=httpx.MockTransport(partner_side))

    with tenant_scope(world.tenant_a1):
        refused = WriteBack.objects.get()
        assert refused.state == State.DEAD and refused.error_code == "bad_url"
        assert "resolves to 169.254.169.254, a link-local address" in refused.cause
        (attempt,) = WriteBackAttempt.objects.filter(write_back=refused)
        assert not attempt.ok and attempt.status_code is None and "link-local" in attempt.error
    # Nothing went to crm-a; crm-b's delivery went to the address that was checked, naming its host.
    (request,) = sent
    assert (request.url.host, request.headers["Host"]) == ("151.101.1.1", "hooks.crm-b.example")
    assert request.extensions["sni_hostname"] == "hooks.crm-b.example"
    with tenant_scope(world.tenant_b1):
        assert WriteBack.objects.get().state == State.DONE
