import httpx

from connections.client import BaseClient
from connections.providers.xero.provider import PROVIDER
from connections.ratelimit import Budget


def _int_header(headers: httpx.Headers, name: str) -> int | None:
    try:
        return int(headers[name])
    except (KeyError, ValueError):
        return None


class XeroClient(BaseClient):
    """Xero Accounting API. Tokens come from `access_token_provider` (the Xero OAuth2 provider supplies it)."""

    provider = PROVIDER

    def __init__(self, *, transport: httpx.BaseTransport | None = None, **kwargs):
        from connections.providers.xero.oauth import default_transport

        # Kept for revoke_credentials(), which talks to Xero's identity service, not the API base URL.
        self.transport = transport or default_transport()
        super().__init__(transport=self.transport, **kwargs)

    def revoke_credentials(self) -> None:
        """Detach the organisation from our app and revoke the refresh token (connection_disconnect calls this)."""
        from connections.providers.xero.tokens import xero_credentials_revoke

        xero_credentials_revoke(connection=self.connection, transport=self.transport)

    def auth_headers(self, *, force_refresh: bool = False) -> dict[str, str]:
        headers = super().auth_headers(force_refresh=force_refresh)
        if self.access_token_provider is None and self.credentials.get("access_token"):
            headers["Authorization"] = f"Bearer {self.credentials['access_token']}"
        if self.connection is not None and self.connection.external_account_id:
            headers["xero-tenant-id"] = self.connection.external_account_id
        return headers

    def error_message(self, response: httpx.Response) -> str:
        try:
            body = response.json()
        except ValueError:
            # 404 and 503 "Organisation offline" come as plain text.
            return response.text.strip()[:500] or response.reason_phrase
        if isinstance(body, dict):
            messages = [
                error.get("Message")
                for element in body.get("Elements") or []
                for error in (element.get("ValidationErrors") or [])
                if isinstance(error, dict) and error.get("Message")
            ]
            if messages:
                return "; ".join(dict.fromkeys(messages))
            for key in ("Detail", "Message", "Title", "error"):
                if isinstance(body.get(key), str) and body[key]:
                    return body[key]
        return response.reason_phrase

    def budget_from_headers(self, headers: httpx.Headers) -> Budget | None:
        minute = _int_header(headers, "X-MinLimit-Remaining")
        day = _int_header(headers, "X-DayLimit-Remaining")
        if minute is None and day is None:
            return None
        return Budget(minute_remaining=minute, day_remaining=day)

    def is_day_limit(self, response: httpx.Response) -> bool:
        return response.headers.get("X-Rate-Limit-Problem", "").strip().lower() == "day"
