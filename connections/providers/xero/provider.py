"""Xero: the accounting destination. OAuth2 authorization code with PKCE (oauth.py; the pages in connections/views.py),
single-flight refresh (tokens.py); limits per connected organisation: 60/min, 5 in flight, 5,000/day."""

from connections.providers.base import AuthKind, CredentialField, Provider, RateLimits, Role

PROVIDER = Provider(
    id="xero",
    name="Xero",
    role=Role.DESTINATION,
    auth_kind=AuthKind.OAUTH2,
    credential_fields=(
        CredentialField("access_token", "Access token"),
        CredentialField("refresh_token", "Refresh token"),
        CredentialField("expires_at", "Access token expiry (epoch seconds)", required=False),
        CredentialField("scope", "Granted scopes", required=False),
        CredentialField("refreshed_at", "Token set issued at (epoch seconds)", required=False),
        # The id of Xero's /connections entry for this organisation (DELETE /connections/{id} on disconnect).
        CredentialField("xero_connection_id", "Xero connection id", required=False),
    ),
    webhook_events=(
        "CONTACT.CREATE",
        "CONTACT.UPDATE",
        "INVOICE.CREATE",
        "INVOICE.UPDATE",
        "CREDITNOTE.CREATE",
        "CREDITNOTE.UPDATE",
    ),
    # Xero signs webhooks with one key per app (settings), not per connection.
    webhook_signing="",
    rate_limits=RateLimits(calls=60, per_seconds=60, max_in_flight=5, calls_per_day=5000),
    default_base_url="https://api.xero.com/api.xro/2.0",
    client_path="connections.providers.xero.client.XeroClient",
)
