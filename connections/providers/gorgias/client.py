import httpx

from connections.client import BaseClient
from connections.providers.gorgias.provider import PROVIDER


class GorgiasClient(BaseClient):
    """Gorgias REST API (`https://<domain>.gorgias.com/api/…`)."""

    provider = PROVIDER
    # The last answer received when it was an error (None after a success): lets "test connection" tell this system's
    # error body from another server's page without a second call. A success is not kept: it can be a page of
    # hundreds of records, which stayed alive while the next page was read.
    last_response: httpx.Response | None = None

    def _raise_for_status(self, method, request, response) -> None:
        self.last_response = response if response.is_error else None
        super()._raise_for_status(method, request, response)

    def error_message(self, response: httpx.Response) -> str:
        try:
            body = response.json()
        except ValueError:
            return response.text.strip()[:500] or response.reason_phrase
        # {"error": {"msg": "…", "data": {"field": ["…"]}}}
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict) and error.get("msg"):
            details = error.get("data")
            if isinstance(details, dict) and details:
                parts = [f"{k}: {' '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in details.items()]
                return f"{error['msg']} ({'; '.join(parts)})"
            return str(error["msg"])
        return super().error_message(response)
