import base64
import hashlib
import hmac
from urllib.parse import quote

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
    # The last answer received when it was an error (None after a success): lets "test connection" tell a Magento
    # error body from another server's page without a second call. A success is not kept: it can be a page of
    # hundreds of records, which stayed alive while the next page was read.
    last_response: httpx.Response | None = None

    def _raise_for_status(self, method, request, response) -> None:
        self.last_response = response if response.is_error else None
        super()._raise_for_status(method, request, response)

    @property
    def store_code(self) -> str:
        """The store view code the base URL names (`…/rest/<code>`)."""
        return self.base_url.rstrip("/").rsplit("/", 1)[-1]

    @property
    def rest_root(self) -> str:
        """The REST root without a store code (`…/rest`), where /V1/ answers for the default store view."""
        return self.base_url.rstrip("/").rsplit("/", 1)[0]

    def order_get(self, order_id) -> dict:
        """GET /V1/orders/{id}: one order."""
        return self.get(f"V1/orders/{_segment(order_id)}").json()

    def invoice_get(self, invoice_id) -> dict:
        """GET /V1/invoices/{id}: one invoice."""
        return self.get(f"V1/invoices/{_segment(invoice_id)}").json()

    def creditmemo_get(self, creditmemo_id) -> dict:
        """GET /V1/creditmemo/{id}: one credit memo (singular in Magento's path)."""
        return self.get(f"V1/creditmemo/{_segment(creditmemo_id)}").json()

    def customer_get(self, customer_id) -> dict:
        """GET /V1/customers/{id}: one customer."""
        return self.get(f"V1/customers/{_segment(customer_id)}").json()

    def customers_search(self, field: str, value: str) -> list[dict]:
        """GET /V1/customers/search with one `field` = `value` filter (email, billing_telephone, …): the matches."""
        params = {
            "searchCriteria[filter_groups][0][filters][0][field]": field,
            "searchCriteria[filter_groups][0][filters][0][value]": value,
            "searchCriteria[filter_groups][0][filters][0][condition_type]": "eq",
            "searchCriteria[pageSize]": 20,
        }
        return self.get("V1/customers/search", params=params).json().get("items") or []

    def customer_create(self, customer: dict) -> dict:
        """POST /V1/customers: a new customer (no password: the customer sets one); returns it with its id."""
        return self.post("V1/customers", json_body={"customer": customer}).json()

    def customer_update(self, customer_id, customer: dict) -> dict:
        """PUT /V1/customers/{id}: the customer's fields; returns the saved customer."""
        return self.put(f"V1/customers/{_segment(customer_id)}", json_body={"customer": customer}).json()

    def product_get(self, sku: str) -> dict:
        """GET /V1/products/{sku}: one product, its stock item under extension_attributes."""
        return self.get(f"V1/products/{quote(sku, safe='')}").json()

    def stock_item_get(self, sku: str) -> dict:
        """GET /V1/stockItems/{sku}: the default-source stock item of a SKU."""
        return self.get(f"V1/stockItems/{quote(sku, safe='')}").json()

    def stock_item_update(self, sku: str, item_id, changes: dict) -> int:
        """PUT /V1/products/{sku}/stockItems/{itemId}: change the stock item; returns its id."""
        path = f"V1/products/{quote(sku, safe='')}/stockItems/{_segment(item_id)}"
        return self.put(path, json_body={"stockItem": changes}).json()

    def order_comment_add(self, order_id, *, comment: str, status: str | None = None) -> None:
        """POST /V1/orders/{id}/comments: a status-history comment, not shown to the customer."""
        history = {"comment": comment, "is_customer_notified": 0, "is_visible_on_front": 0, "parent_id": order_id}
        if status:
            history["status"] = status
        self.post(f"V1/orders/{_segment(order_id)}/comments", json_body={"statusHistory": history})

    def order_invoice(self, order_id, *, comment: str = "") -> int:
        """POST /V1/order/{id}/invoice: invoice everything still open, captured offline; returns the invoice id."""
        body = {"capture": False, "notify": False}
        if comment:
            body["comment"] = {"comment": comment, "is_visible_on_front": 0}
        return self.post(f"V1/order/{_segment(order_id)}/invoice", json_body=body).json()

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


def _segment(value) -> str:
    """An id as one path segment: digits only, so a crafted id can never reach another endpoint."""
    text = str(value).strip()
    if not text.isdigit():
        from core.errors import NotFoundError

        raise NotFoundError(f"'{text}' is not a Magento id.")
    return text
