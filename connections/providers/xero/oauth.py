"""Xero's identity endpoints through authlib: the authorization-code flow with PKCE, refresh, revocation, and
the /connections list.

These functions only talk to Xero; they never read or write a Connection row (tokens.py and the views do). Each
takes an optional httpx `transport` (tests and the demo pass the in-process sandbox's); without one,
settings.XERO_HTTP_TRANSPORT decides, and empty means the network.
"""

import secrets
import time
import warnings
from dataclasses import dataclass
from importlib import import_module

import httpx
from authlib.common.security import generate_token
from authlib.deprecate import AuthlibDeprecationWarning
from django.conf import settings

with warnings.catch_warnings():
    # Authlib 1.9 announces that this integration will move to httpx2; the httpx client API used here is unchanged.
    warnings.simplefilter("ignore", AuthlibDeprecationWarning)
    from authlib.integrations.httpx_client import OAuth2Client, OAuthError

from core.errors import ProviderAuthError, RetryableError

# Seconds before an HTTP call to Xero's identity service is abandoned.
IDENTITY_TIMEOUT = httpx.Timeout(20.0, connect=10.0)


class XeroGrantRefusedError(ProviderAuthError):
    """The token endpoint refused the grant (`invalid_grant`): the code or refresh token is spent, expired, revoked."""

    code = "xero_invalid_grant"


def default_transport() -> httpx.BaseTransport | None:
    """The configured transport for Xero's identity endpoints (settings.XERO_HTTP_TRANSPORT), or None: the network."""
    path = settings.XERO_HTTP_TRANSPORT
    if not path:
        return None
    module, _, name = path.rpartition(".")
    return getattr(import_module(module), name)()


def _oauth_client(*, transport=None, redirect_uri: str | None = None) -> OAuth2Client:
    return OAuth2Client(
        client_id=settings.XERO_CLIENT_ID,
        client_secret=settings.XERO_CLIENT_SECRET,
        # Xero authenticates confidential clients with HTTP Basic at the token and revocation endpoints.
        token_endpoint_auth_method="client_secret_basic",
        revocation_endpoint_auth_method="client_secret_basic",
        code_challenge_method="S256",
        redirect_uri=redirect_uri,
        transport=transport or default_transport(),
        timeout=IDENTITY_TIMEOUT,
    )


@dataclass(frozen=True)
class AuthorizationRequest:
    """Where to send the user, and what the callback must check: keep `state` and `code_verifier` server-side."""

    url: str
    state: str
    code_verifier: str
    redirect_uri: str


def authorization_request_build(*, redirect_uri: str | None = None) -> AuthorizationRequest:
    """A fresh authorization URL with PKCE (S256) and an unguessable state."""
    redirect_uri = redirect_uri or settings.XERO_REDIRECT_URI
    code_verifier = generate_token(64)
    state = secrets.token_urlsafe(32)
    with _oauth_client(redirect_uri=redirect_uri) as client:
        url, state = client.create_authorization_url(
            settings.XERO_AUTHORIZE_URL, state=state, code_verifier=code_verifier, scope=settings.XERO_SCOPES
        )
    return AuthorizationRequest(url=url, state=state, code_verifier=code_verifier, redirect_uri=redirect_uri)


def token_set_from(token: dict, *, now: float | None = None) -> dict[str, str]:
    """The credentials we store from a token endpoint answer (strings only; expiry as epoch seconds)."""
    now = time.time() if now is None else now
    expires_in = int(token.get("expires_in") or 1800)
    return {
        "access_token": str(token["access_token"]),
        "refresh_token": str(token.get("refresh_token") or ""),
        "expires_at": str(int(now) + expires_in),
        "scope": str(token.get("scope") or ""),
        "refreshed_at": str(int(now)),
    }


def _token_call(call, *, what: str) -> dict:
    """Run one authlib token call, turning its failures into core.errors."""
    try:
        return dict(call())
    except OAuthError as exc:
        if exc.error == "invalid_grant":
            raise XeroGrantRefusedError(f"Xero refused the {what}: it is expired, already used or revoked.") from None
        raise ProviderAuthError(f"Xero refused the {what} ({exc.error}).", code="xero_oauth_error") from None
    except httpx.HTTPStatusError as exc:
        status = exc.response.status_code
        if status >= 500 or status == 429:
            raise RetryableError(f"Xero's sign-in service answered {status}.", code="provider_unavailable") from None
        raise ProviderAuthError(f"Xero's sign-in service refused the {what} ({status}).") from None
    except httpx.TimeoutException as exc:
        raise RetryableError("Xero's sign-in service did not answer in time.", code="provider_timeout") from exc
    except httpx.TransportError as exc:
        raise RetryableError(
            f"Xero's sign-in service could not be reached ({type(exc).__name__}).", code="provider_unreachable"
        ) from exc
    except ValueError as exc:
        raise RetryableError("Xero's sign-in service answered something that is not a token.") from exc


def authorization_code_exchange(*, code: str, code_verifier: str, redirect_uri: str, transport=None) -> dict[str, str]:
    """Exchange the callback's code (with the PKCE verifier) for a token set; returns the credentials to store.

    Raises XeroGrantRefusedError for a spent, expired or foreign code.
    """
    with _oauth_client(transport=transport, redirect_uri=redirect_uri) as client:
        token = _token_call(
            lambda: client.fetch_token(
                settings.XERO_TOKEN_URL,
                grant_type="authorization_code",
                code=code,
                code_verifier=code_verifier,
                redirect_uri=redirect_uri,
            ),
            what="sign-in code",
        )
    return token_set_from(token)


def refresh_token_exchange(*, refresh_token: str, transport=None) -> dict[str, str]:
    """One refresh_token grant. Raises XeroGrantRefusedError (invalid_grant) or RetryableError (network, 5xx)."""
    with _oauth_client(transport=transport) as client:
        token = _token_call(
            lambda: client.refresh_token(settings.XERO_TOKEN_URL, refresh_token=refresh_token), what="refresh token"
        )
    credentials = token_set_from(token)
    # Xero always rotates, but a server that does not may omit the new one: the old one stays valid then.
    credentials["refresh_token"] = credentials["refresh_token"] or refresh_token
    return credentials


def refresh_token_revoke(*, refresh_token: str, transport=None) -> None:
    """Revoke a refresh token (RFC 7009). Xero drops the whole consent with it, every organisation it connected."""
    with _oauth_client(transport=transport) as client:
        try:
            response = client.revoke_token(
                settings.XERO_REVOCATION_URL, token=refresh_token, token_type_hint="refresh_token"
            )
        except httpx.TransportError as exc:
            raise RetryableError("Xero's sign-in service could not be reached to revoke.") from exc
    if response.status_code >= 400:
        raise ProviderAuthError(f"Xero refused to revoke the token ({response.status_code}).")


def _identity_http(transport=None) -> httpx.Client:
    return httpx.Client(transport=transport or default_transport(), timeout=IDENTITY_TIMEOUT)


def organisations_list(*, access_token: str, transport=None) -> list[dict]:
    """The organisations (tenantType ORGANISATION) this token may call: Xero's /connections entries."""
    with _identity_http(transport) as http:
        try:
            response = http.get(
                settings.XERO_CONNECTIONS_URL,
                headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
            )
        except httpx.TransportError as exc:
            raise RetryableError("Xero could not be reached to list your organisations.") from exc
    if response.status_code in (401, 403):
        raise ProviderAuthError("Xero refused the new token when listing organisations.")
    if response.status_code >= 400:
        raise RetryableError(f"Xero answered {response.status_code} when listing organisations.")
    rows = response.json()
    return [
        row
        for row in rows
        if isinstance(row, dict) and row.get("tenantId") and row.get("tenantType", "ORGANISATION") == "ORGANISATION"
    ]


def connection_delete_remote(*, access_token: str, xero_connection_id: str, transport=None) -> bool:
    """DELETE /connections/{id}: detach one organisation from our app. False when Xero no longer had it."""
    url = settings.XERO_CONNECTIONS_URL.rstrip("/") + f"/{xero_connection_id}"
    with _identity_http(transport) as http:
        try:
            response = http.delete(url, headers={"Authorization": f"Bearer {access_token}"})
        except httpx.TransportError as exc:
            raise RetryableError("Xero could not be reached to remove the connection.") from exc
    if response.status_code == 404:
        return False
    if response.status_code in (401, 403):
        raise ProviderAuthError("Xero refused the token when removing the connection.")
    if response.status_code >= 400:
        raise RetryableError(f"Xero answered {response.status_code} when removing the connection.")
    return True
