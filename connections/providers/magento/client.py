import base64
import hashlib
import hmac

import httpx
from authlib.common.encoding import to_bytes
from authlib.oauth1 import ClientAuth
from authlib.oauth1.rfc5849.signature import generate_signature_base_string
from authlib.oauth1.rfc5849.util import escape

from connections.client import BaseClient
from connections.providers.magento.provider import PROVIDER

HMAC_SHA256 = "HMAC-SHA256"


def _sign_hmac_sha256(client, request) -> str:
    base_string = generate_signature_base_string(request)
    key = f"{escape(client.client_secret or '')}&{escape(client.token_secret or '')}"
    return base64.b64encode(hmac.new(to_bytes(key), to_bytes(base_string), hashlib.sha256).digest()).decode()


class _MagentoOAuth1(ClientAuth):
    # A copy, so registering HMAC-SHA256 does not change authlib's class-wide table.
    SIGNATURE_METHODS = {**ClientAuth.SIGNATURE_METHODS, HMAC_SHA256: _sign_hmac_sha256}


class OAuth1Signer(httpx.Auth):
    """Signs each request with OAuth 1.0a (HMAC-SHA256 by default), as Magento integrations require."""

    requires_request_body = True

    def __init__(self, *, consumer_key, consumer_secret, token, token_secret, signature_method=HMAC_SHA256):
        self._auth = _MagentoOAuth1(
            consumer_key,
            client_secret=consumer_secret,
            token=token,
            token_secret=token_secret,
            signature_method=signature_method,
        )

    def __repr__(self) -> str:
        return "OAuth1Signer()"

    def auth_flow(self, request: httpx.Request):
        url, headers, _ = self._auth.prepare(request.method, str(request.url), dict(request.headers), request.content)
        request.url = httpx.URL(url)
        request.headers.update(headers)
        yield request


class MagentoClient(BaseClient):
    """Magento 2 REST (`<store>/rest/<store code>/V1/…`)."""

    provider = PROVIDER

    @property
    def uses_oauth1(self) -> bool:
        return bool(self.credentials.get("consumer_key"))

    def auth(self) -> httpx.Auth | None:
        if self.uses_oauth1:
            return OAuth1Signer(
                consumer_key=self.credentials["consumer_key"],
                consumer_secret=self.credentials["consumer_secret"],
                token=self.credentials["access_token"],
                token_secret=self.credentials["access_token_secret"],
            )
        return None

    def auth_headers(self, *, force_refresh: bool = False) -> dict[str, str]:
        return {} if self.uses_oauth1 else super().auth_headers(force_refresh=force_refresh)

    def error_message(self, response: httpx.Response) -> str:
        try:
            body = response.json()
        except ValueError:
            return response.text.strip()[:500] or response.reason_phrase
        if not isinstance(body, dict) or not isinstance(body.get("message"), str):
            return response.reason_phrase
        # "Invalid product data: %1" with parameters ["…"], or "%resources" with parameters {"resources": "…"}.
        message = body["message"]
        parameters = body.get("parameters")
        if isinstance(parameters, list):
            for index, value in enumerate(parameters, start=1):
                message = message.replace(f"%{index}", str(value))
        elif isinstance(parameters, dict):
            for name, value in parameters.items():
                message = message.replace(f"%{name}", str(value))
        return message
