"""OAuth 2.0 as Xero runs it: consent, PKCE, single-use codes, rotating refresh tokens, revocation, connections."""

import base64
import re
from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import pytest
from django.utils import timezone

from sandbox.xero.models import AccessToken, RefreshToken, XeroApp
from sandbox.xero.services.auth import pkce_challenge

AUTHORIZE = "/sandbox/xero/identity/connect/authorize"
TOKEN = "/sandbox/xero/identity/connect/token"
REVOKE = "/sandbox/xero/identity/connect/revocation"
CONNECTIONS = "/sandbox/xero/connections"
REDIRECT = "http://testserver/connections/xero/callback/"
VERIFIER = "v" * 50
SCOPE = "openid offline_access accounting.transactions accounting.contacts accounting.settings"


def _basic(info) -> dict:
    raw = f"{info['client_id']}:{info['client_secret']}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def _authorize_params(info, **overrides) -> dict:
    params = {
        "response_type": "code",
        "client_id": info["client_id"],
        "redirect_uri": REDIRECT,
        "scope": SCOPE,
        "state": "s-123",
        "code_challenge": pkce_challenge(VERIFIER),
        "code_challenge_method": "S256",
    }
    params.update(overrides)
    return params


def _consent(http, info, tenant_ids, decision="allow", **overrides) -> dict:
    form = {**_authorize_params(info, **overrides), "decision": decision, "tenant": tenant_ids}
    response = http.post(AUTHORIZE, data=form)
    assert response.status_code == 302, response.text
    return {k: v[0] for k, v in parse_qs(urlparse(response.headers["location"]).query).items()}


def _exchange(http, info, code, verifier=VERIFIER):
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier}
    return http.post(TOKEN, data=form, headers=_basic(info))


def _refresh(http, info, refresh_token):
    return http.post(TOKEN, data={"grant_type": "refresh_token", "refresh_token": refresh_token}, headers=_basic(info))


def test_consent_page_lists_sandbox_organisations(http, org_a, org_b):
    page = http.get(AUTHORIZE, params=_authorize_params(org_a.info))
    assert page.status_code == 200
    assert "Alpha Pty Ltd" in page.text and "Beta Ltd" in page.text


def test_authorization_code_flow_with_pkce_connects_only_the_chosen_organisation(http, org_a, org_b):
    query = _consent(http, org_a.info, [org_a.tenant_id])
    assert query["state"] == "s-123"
    tokens = _exchange(http, org_a.info, query["code"])
    assert tokens.status_code == 200, tokens.text
    body = tokens.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 1800 and body["refresh_token"]
    listed = http.get(CONNECTIONS, headers={"Authorization": f"Bearer {body['access_token']}"}).json()
    assert [c["tenantId"] for c in listed] == [org_a.tenant_id]
    assert set(listed[0]) == {
        "id",
        "authEventId",
        "tenantId",
        "tenantType",
        "tenantName",
        "createdDateUtc",
        "updatedDateUtc",
    }
    assert listed[0]["tenantType"] == "ORGANISATION" and listed[0]["tenantName"] == "Alpha Pty Ltd"
    # The new token reads org A and is refused org B.
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    ok = http.get("/sandbox/xero/api.xro/2.0/Organisation", headers={**headers, "xero-tenant-id": org_a.tenant_id})
    assert ok.status_code == 200
    refused = http.get("/sandbox/xero/api.xro/2.0/Organisation", headers={**headers, "xero-tenant-id": org_b.tenant_id})
    assert refused.status_code == 403


def test_a_code_is_single_use(http, org_a):
    code = _consent(http, org_a.info, [org_a.tenant_id])["code"]
    assert _exchange(http, org_a.info, code).status_code == 200
    again = _exchange(http, org_a.info, code)
    assert again.status_code == 400 and again.json() == {"error": "invalid_grant"}


def test_a_wrong_pkce_verifier_is_invalid_grant(http, org_a):
    code = _consent(http, org_a.info, [org_a.tenant_id])["code"]
    response = _exchange(http, org_a.info, code, verifier="w" * 50)
    assert response.status_code == 400 and response.json() == {"error": "invalid_grant"}


def test_plain_pkce_method_is_refused(http, org_a):
    query = _consent(http, org_a.info, [org_a.tenant_id], code_challenge_method="plain")
    assert query["error"] == "invalid_request" and "code" not in query


def test_denied_consent_redirects_with_access_denied(http, org_a):
    query = _consent(http, org_a.info, [org_a.tenant_id], decision="deny")
    assert query == {"error": "access_denied", "state": "s-123"}


def test_unregistered_redirect_uri_is_an_error_page_not_a_redirect(http, org_a):
    response = http.get(AUTHORIZE, params=_authorize_params(org_a.info, redirect_uri="https://evil.test/cb"))
    assert response.status_code == 400 and "location" not in response.headers


def test_unknown_scope_is_invalid_scope(http, org_a):
    query = _consent(http, org_a.info, [org_a.tenant_id], scope="openid accounting.everything")
    assert query["error"] == "invalid_scope"


def test_client_auth_by_form_fields_and_wrong_secret(http, org_a):
    code = _consent(http, org_a.info, [org_a.tenant_id], code_challenge="", code_challenge_method="")["code"]
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
    bad = http.post(TOKEN, data={**form, "client_id": org_a.info["client_id"], "client_secret": "nope"})
    assert bad.status_code == 400 and bad.json() == {"error": "invalid_client"}
    good = http.post(
        TOKEN,
        data={**form, "client_id": org_a.info["client_id"], "client_secret": org_a.info["client_secret"]},
    )
    assert good.status_code == 200, good.text


def test_refresh_rotates_and_the_old_token_has_a_30_minute_grace(http, org_a):
    old = org_a.info["refresh_token"]
    first = _refresh(http, org_a.info, old)
    assert first.status_code == 200
    new = first.json()["refresh_token"]
    assert new != old
    # Lost response: the old token may be retried within 30 minutes and leads to the same successor.
    retry = _refresh(http, org_a.info, old)
    assert retry.status_code == 200 and retry.json()["refresh_token"] == new
    RefreshToken.objects.filter(token=old).update(rotated_at=timezone.now() - timedelta(minutes=31))
    late = _refresh(http, org_a.info, old)
    assert late.status_code == 400 and late.json() == {"error": "invalid_grant"}
    assert _refresh(http, org_a.info, new).status_code == 200


def test_refresh_token_dies_after_60_days_unused(http, org_a):
    token = org_a.info["refresh_token"]
    RefreshToken.objects.filter(token=token).update(issued_at=timezone.now() - timedelta(days=60, minutes=1))
    response = _refresh(http, org_a.info, token)
    assert response.status_code == 400 and response.json() == {"error": "invalid_grant"}


def test_refresh_token_of_59_days_still_works(http, org_a):
    token = org_a.info["refresh_token"]
    RefreshToken.objects.filter(token=token).update(issued_at=timezone.now() - timedelta(days=59))
    assert _refresh(http, org_a.info, token).status_code == 200


def test_revocation_kills_refresh_access_and_connections(http, org_a):
    response = http.post(REVOKE, data={"token": org_a.info["refresh_token"]}, headers=_basic(org_a.info))
    assert response.status_code == 200
    assert _refresh(http, org_a.info, org_a.info["refresh_token"]).json() == {"error": "invalid_grant"}
    assert org_a.get("Organisation").status_code == 401


def test_access_token_expires_after_30_minutes(http, org_a):
    assert org_a.get("Organisation").status_code == 200
    AccessToken.objects.filter(token=org_a.info["access_token"]).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    response = org_a.get("Organisation")
    assert response.status_code == 401
    assert response.json()["Detail"].startswith("TokenExpired: token expired at ")
    assert "invalid_token" in response.headers["WWW-Authenticate"]


def test_delete_connection_disconnects_that_organisation(http, org_a):
    headers = {"Authorization": f"Bearer {org_a.info['access_token']}"}
    connection_id = http.get(CONNECTIONS, headers=headers).json()[0]["id"]
    assert http.delete(f"{CONNECTIONS}/{connection_id}", headers=headers).status_code == 204
    assert http.get(CONNECTIONS, headers=headers).json() == []
    response = org_a.get("Organisation")
    assert response.status_code == 403 and response.json()["Detail"] == "AuthenticationUnsuccessful"


@pytest.mark.parametrize("header", [None, "Bearer not-a-token"])
def test_missing_or_unknown_bearer_is_401(http, org_a, header):
    headers = {"xero-tenant-id": org_a.tenant_id}
    if header:
        headers["Authorization"] = header
    response = http.get("/sandbox/xero/api.xro/2.0/Organisation", headers=headers)
    assert response.status_code == 401 and response.json()["Title"] == "Unauthorized"


def test_app_credentials_are_xero_shaped(org_a):
    app = XeroApp.objects.get(client_id=org_a.info["client_id"])
    assert re.fullmatch(r"[0-9A-F]{32}", app.client_id)
    assert base64.b64decode(org_a.info["webhook_key"])
