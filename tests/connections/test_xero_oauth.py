"""Connect Xero through the browser: our pages and the sandbox's consent page, redirects followed by hand."""

from urllib.parse import parse_qs, urlsplit

import pytest

from connections import crypto
from connections.models import Connection, XeroReferenceData
from connections.providers.xero.reference import xero_reference_get
from connections.providers.xero.tokens import xero_client_for
from sandbox.transport import SandboxTransport
from sandbox.xero.services.auth import app_ensure
from sandbox.xero.services.orgs import DEFAULT_APP_NAME, organisation_setup
from tenants.scoping import all_tenants, tenant_scope

pytestmark = pytest.mark.django_db

SANDBOX = "http://testserver/sandbox/xero"
CALLBACK = "http://testserver/connections/xero/callback/"


def configure_sandbox_xero(settings):
    """Point the product's Xero settings at the in-process sandbox and register the app there with them."""
    settings.XERO_AUTHORIZE_URL = f"{SANDBOX}/identity/connect/authorize"
    settings.XERO_TOKEN_URL = f"{SANDBOX}/identity/connect/token"
    settings.XERO_REVOCATION_URL = f"{SANDBOX}/identity/connect/revocation"
    settings.XERO_CONNECTIONS_URL = f"{SANDBOX}/connections"
    settings.XERO_API_URL = f"{SANDBOX}/api.xro/2.0"
    settings.XERO_REDIRECT_URI = CALLBACK
    # The product's pages take no transport argument; this setting hands them the in-process sandbox.
    settings.XERO_HTTP_TRANSPORT = "sandbox.transport.SandboxTransport"
    app_ensure(
        name=DEFAULT_APP_NAME,
        redirect_uris=[CALLBACK],
        client_id=settings.XERO_CLIENT_ID,
        client_secret=settings.XERO_CLIENT_SECRET,
        webhook_key=settings.XERO_WEBHOOK_KEY,
    )


@pytest.fixture
def sandbox_xero(settings):
    configure_sandbox_xero(settings)


def _local(url: str) -> str:
    """The path and query of an absolute testserver URL, for Django's test client."""
    parts = urlsplit(url)
    assert parts.netloc == "testserver", url
    return parts.path + (f"?{parts.query}" if parts.query else "")


def consent_at_xero(client, authorize_url: str, *, organisations, decision: str = "allow") -> str:
    """Open Xero's consent page, tick `organisations`, answer; returns where Xero redirects the browser."""
    page = client.get(_local(authorize_url))
    assert page.status_code == 200
    for org in organisations:
        assert org.name in page.content.decode()
    params = {k: v[0] for k, v in parse_qs(urlsplit(authorize_url).query).items()}
    answer = client.post(
        urlsplit(authorize_url).path,
        {**params, "tenant": [str(o.tenant_id) for o in organisations], "decision": decision},
    )
    assert answer.status_code == 302
    return answer["Location"]


def start(client, tenant) -> str:
    response = client.post(f"/connections/tenants/{tenant.pk}/xero/connect/")
    assert response.status_code == 302
    assert response["Location"].startswith(f"{SANDBOX}/identity/connect/authorize?")
    query = parse_qs(urlsplit(response["Location"]).query)
    assert query["code_challenge_method"] == ["S256"] and query["state"][0]
    assert "offline_access" in query["scope"][0].split()
    return response["Location"]


def _xero_rows(tenant):
    with tenant_scope(tenant):
        return list(Connection.objects.filter(tenant=tenant, provider="xero"))


def test_connect_xero_end_to_end(world, client, sandbox_xero):
    alpha, _ = organisation_setup(name="Alpha Traders", country="AU")
    beta, _ = organisation_setup(name="Beta Wholesale", country="NZ")
    client.force_login(world.owner_a)

    authorize_url = start(client, world.tenant_a1)
    back = consent_at_xero(client, authorize_url, organisations=[alpha, beta])
    assert back.startswith(CALLBACK)

    callback = client.get(_local(back))
    assert callback.status_code == 302
    choose = client.get(callback["Location"])
    assert choose.status_code == 200
    body = choose.content.decode()
    assert "Alpha Traders" in body and "Beta Wholesale" in body
    assert _xero_rows(world.tenant_a1) == []  # nothing is attached before the user chooses

    attached = client.post(callback["Location"], {"xero_tenant_id": str(beta.tenant_id)})
    assert attached.status_code == 302
    assert attached["Location"] == f"/connections/tenants/{world.tenant_a1.pk}/"

    [connection] = _xero_rows(world.tenant_a1)
    assert connection.status == Connection.Status.ACTIVE
    assert connection.external_account_id == str(beta.tenant_id)
    assert connection.display_name == "Beta Wholesale"
    assert connection.base_url == f"{SANDBOX}/api.xro/2.0"
    credentials = crypto.credentials_read(connection)
    assert {"access_token", "refresh_token", "expires_at", "scope", "xero_connection_id"} <= set(credentials)
    with tenant_scope(world.tenant_a1):
        reference = xero_reference_get(connection=connection)
        assert reference.organisation["Name"] == "Beta Wholesale"
        assert reference.tax_rate("OUTPUT2") is not None  # NZ GST: the chosen organisation, not the other one
        with xero_client_for(connection, transport=SandboxTransport()) as xero:
            assert xero.get("Organisation").json()["Organisations"][0]["Name"] == "Beta Wholesale"

    page = client.get(attached["Location"])
    assert "Beta Wholesale" in page.content.decode() and "Active" in page.content.decode()
    # The other tenants saw nothing.
    assert _xero_rows(world.tenant_a2) == [] and _xero_rows(world.tenant_b1) == []
    with tenant_scope(world.tenant_b1):
        assert not XeroReferenceData.objects.exists()
    # A second visit to the choose page finds nothing pending: the token set was offered once.
    again = client.post(callback["Location"], {"xero_tenant_id": str(beta.tenant_id)})
    assert again.status_code == 302
    assert len(_xero_rows(world.tenant_a1)) == 1


def test_one_organisation_is_still_confirmed(world, client, sandbox_xero):
    alpha, _ = organisation_setup(name="Alpha Traders", country="AU")
    client.force_login(world.owner_a)
    back = consent_at_xero(client, start(client, world.tenant_a1), organisations=[alpha])
    callback = client.get(_local(back))
    choose = client.get(callback["Location"])
    assert choose.status_code == 200 and "Alpha Traders" in choose.content.decode()
    assert _xero_rows(world.tenant_a1) == []


def _assert_nothing_changed(world):
    for tenant in (world.tenant_a1, world.tenant_a2, world.tenant_b1):
        assert _xero_rows(tenant) == []
    with all_tenants():
        assert not XeroReferenceData.objects.exists()


def test_wrong_or_missing_state_is_refused_and_stores_nothing(world, client, sandbox_xero):
    alpha, _ = organisation_setup(name="Alpha Traders", country="AU")
    client.force_login(world.owner_a)
    back = consent_at_xero(client, start(client, world.tenant_a1), organisations=[alpha])
    params = parse_qs(urlsplit(back).query)

    forged = client.get("/connections/xero/callback/", {"code": params["code"][0], "state": "not-the-state"})
    assert forged.status_code == 400
    assert "does not match" in forged.content.decode()
    missing = client.get("/connections/xero/callback/", {"code": params["code"][0]})
    assert missing.status_code == 400
    _assert_nothing_changed(world)

    # The forged callbacks did not cancel the real one, and did not spend its code.
    real = client.get(_local(back))
    assert real.status_code == 302


def test_a_callback_in_another_browser_session_is_refused(world, client, sandbox_xero):
    from django.test import Client

    alpha, _ = organisation_setup(name="Alpha Traders", country="AU")
    client.force_login(world.owner_a)
    back = consent_at_xero(client, start(client, world.tenant_a1), organisations=[alpha])
    other = Client()
    other.force_login(world.owner_b)
    response = other.get(_local(back))
    assert response.status_code == 400
    _assert_nothing_changed(world)


def test_denied_consent_explains_and_stores_nothing(world, client, sandbox_xero):
    alpha, _ = organisation_setup(name="Alpha Traders", country="AU")
    client.force_login(world.owner_a)
    back = consent_at_xero(client, start(client, world.tenant_a1), organisations=[alpha], decision="deny")
    assert "error=access_denied" in back
    response = client.get(_local(back))
    assert response.status_code == 400
    assert "was not granted" in response.content.decode()
    _assert_nothing_changed(world)


def test_a_reused_code_is_refused_and_stores_nothing(world, client, sandbox_xero):
    alpha, _ = organisation_setup(name="Alpha Traders", country="AU")
    client.force_login(world.owner_a)
    first = consent_at_xero(client, start(client, world.tenant_a1), organisations=[alpha])
    assert client.get(_local(first)).status_code == 302  # the code is spent here

    # A new start (fresh state), but the old, already used code comes back.
    second = start(client, world.tenant_a1)
    state = parse_qs(urlsplit(second).query)["state"][0]
    old_code = parse_qs(urlsplit(first).query)["code"][0]
    response = client.get("/connections/xero/callback/", {"code": old_code, "state": state})
    assert response.status_code == 400
    assert "did not accept this sign-in code" in response.content.decode()
    _assert_nothing_changed(world)


def test_only_admins_start_the_flow_and_only_for_their_tenants(world, client, sandbox_xero):
    client.force_login(world.member_a)
    response = client.post(f"/connections/tenants/{world.tenant_a1.pk}/xero/connect/")
    assert response.status_code == 302
    assert response["Location"] == f"/connections/tenants/{world.tenant_a1.pk}/"
    client.force_login(world.owner_a)
    assert client.post(f"/connections/tenants/{world.tenant_b1.pk}/xero/connect/").status_code == 404
    assert client.get("/connections/tenants/999999/").status_code == 404
    _assert_nothing_changed(world)


def test_reconnecting_revives_a_connection_that_needs_reauth(world, client, sandbox_xero):
    alpha, _ = organisation_setup(name="Alpha Traders", country="AU")
    client.force_login(world.owner_a)

    def connect():
        back = consent_at_xero(client, start(client, world.tenant_a1), organisations=[alpha])
        choose = client.get(_local(back))["Location"]
        return client.post(choose, {"xero_tenant_id": str(alpha.tenant_id)})

    connect()
    [connection] = _xero_rows(world.tenant_a1)
    with tenant_scope(world.tenant_a1):
        Connection.objects.filter(pk=connection.pk).update(status=Connection.Status.NEEDS_REAUTH)
    page = client.get(f"/connections/tenants/{world.tenant_a1.pk}/").content.decode()
    assert "Reconnect Xero" in page
    connect()
    [again] = _xero_rows(world.tenant_a1)
    assert again.pk == connection.pk
    assert again.status == Connection.Status.ACTIVE
    assert crypto.credentials_read(again)["access_token"] != crypto.credentials_read(connection)["access_token"]


def test_a_tenant_keeps_one_xero_organisation(world, client, sandbox_xero):
    alpha, _ = organisation_setup(name="Alpha Traders", country="AU")
    beta, _ = organisation_setup(name="Beta Wholesale", country="NZ")
    client.force_login(world.owner_a)
    for org in (alpha, beta):
        back = consent_at_xero(client, start(client, world.tenant_a1), organisations=[org])
        choose = client.get(_local(back))["Location"]
        last = client.post(choose, {"xero_tenant_id": str(org.tenant_id)})
    assert last.status_code == 400
    assert "Disconnect it before connecting another" in last.content.decode()
    assert [c.display_name for c in _xero_rows(world.tenant_a1)] == ["Alpha Traders"]
