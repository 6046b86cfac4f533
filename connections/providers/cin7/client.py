import httpx

from connections.client import BaseClient
from connections.providers.cin7.provider import PROVIDER


class Cin7Client(BaseClient):
    """Cin7 Core External API v2."""

    provider = PROVIDER
    # The last answer received when it was an error (None after a success): lets "test connection" tell this system's
    # error body from another server's page without a second call. A success is not kept: it can be a page of
    # hundreds of records, which stayed alive while the next page was read.
    last_response: httpx.Response | None = None

    def _raise_for_status(self, method, request, response) -> None:
        self.last_response = response if response.is_error else None
        super()._raise_for_status(method, request, response)

    def auth_headers(self, *, force_refresh: bool = False) -> dict[str, str]:
        account_id = self.credentials.get("account_id") or getattr(self.connection, "external_account_id", "")
        return {
            "api-auth-accountid": account_id,
            "api-auth-applicationkey": self.credentials.get("application_key", ""),
        }

    def error_message(self, response: httpx.Response) -> str:
        try:
            body = response.json()
        except ValueError:
            return response.text.strip()[:500] or response.reason_phrase
        # {"ErrorCode": 400, "Exception": "…"}, or a list of those.
        items = body if isinstance(body, list) else [body]
        messages = [item.get("Exception") for item in items if isinstance(item, dict) and item.get("Exception")]
        return "; ".join(messages) if messages else response.reason_phrase
