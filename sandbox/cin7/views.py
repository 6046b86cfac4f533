"""The Cin7 Core API v2 (`/ExternalApi/v2/...`), as a sync product sees it.

One entry view does what Cin7's gateway does for every call (credentials, the 60 calls/minute limit, injected
faults, error shapes); the endpoint functions below it are thin wrappers around a selector or a service.
Endpoint paths are matched case-insensitively, as the real API does (`/SaleList` and `/saleList` both work).
"""

import json

from django.db import transaction
from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt

from sandbox.cin7 import selectors, services, webhooks
from sandbox.cin7.documents import dumps
from sandbox.cin7.errors import Cin7Error
from sandbox.cin7.models import Cin7Account, Cin7Record
from sandbox.faults import drop_response, fault_decision
from sandbox.limits import window_hit

Kind = Cin7Record.Kind

CALLS_PER_MINUTE = 60
LIMIT_MESSAGE = f"You reached {CALLS_PER_MINUTE} calls per minute API limit"


def _json(text_or_value, status: int = 200) -> HttpResponse:
    text = text_or_value if isinstance(text_or_value, str) else dumps(text_or_value)
    return HttpResponse(text, status=status, content_type="application/json; charset=utf-8")


def _error(error: Cin7Error) -> HttpResponse:
    response = _json(error.body(), status=error.http_status)
    if error.retry_after is not None:
        response["Retry-After"] = str(error.retry_after)
    return response


def _authenticate(request) -> Cin7Account:
    account_id = request.headers.get("api-auth-accountid", "").strip()
    key = request.headers.get("api-auth-applicationkey", "").strip()
    account = Cin7Account.objects.filter(account_id__iexact=account_id).first() if account_id and key else None
    if account is None or account.application_key.lower() != key.lower():
        raise Cin7Error("Incorrect credentials!", status=403)
    return account


def _limit_error(account: Cin7Account, retry_after: int) -> Cin7Error:
    return Cin7Error(LIMIT_MESSAGE, status=account.limit_status, retry_after=retry_after)


def _body(request) -> dict:
    try:
        data = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError) as exc:
        # Cin7 answers an unparseable body with 500 (sources.md §3.7).
        raise Cin7Error("Unable to parse request body", status=500) from exc
    if not isinstance(data, dict):
        raise Cin7Error("Request body must be a JSON object", status=400, shape="list")
    return data


# Endpoints: (method, lower-cased path) -> handler(request, account, params).


def _customers(request, account, params):
    return selectors.record_list(account=account, kind=Kind.CUSTOMER, params=params)


def _customer_create(request, account, params):
    customer = services.customer_create(account=account, data=_body(request))
    return {"CustomerList": [customer], "Page": 1, "Total": 1}


def _customer_update(request, account, params):
    customer = services.customer_update(account=account, data=_body(request))
    return {"CustomerList": [customer], "Page": 1, "Total": 1}


def _records(kind):
    def handler(request, account, params):
        return selectors.record_list(account=account, kind=kind, params=params)

    return handler


def _sale_list(request, account, params):
    return selectors.sale_list(account=account, params=params)


def _credit_note_list(request, account, params):
    return selectors.sale_list(account=account, params=params, credit_notes=True)


def _sale(request, account, params):
    return selectors.sale_get(account=account, sale_id=params.get("id", ""))


def _sale_part(part):
    def handler(request, account, params):
        sale = json.loads(selectors.sale_get(account=account, sale_id=params.get("saleid", "")))
        if part == "Order":
            return {"SaleID": sale.get("ID"), **(sale.get("Order") or {})}
        return {"SaleID": sale.get("ID"), part: sale.get(part) or []}

    return handler


def _payments(request, account, params):
    return selectors.sale_payments(account=account, sale_id=params.get("saleid", ""))


def _payment_create(request, account, params):
    return services.sale_payment_create(account=account, data=_body(request))


def _stock_adjustment_create(request, account, params):
    return services.stock_adjustment_create(account=account, data=_body(request))


def _webhooks(request, account, params):
    return selectors.webhook_list(account=account)


def _webhook_create(request, account, params):
    return webhooks.webhook_create(account=account, data=_body(request))


def _webhook_update(request, account, params):
    return webhooks.webhook_update(account=account, data=_body(request))


def _webhook_delete(request, account, params):
    webhooks.webhook_delete(account=account, webhook_id=params.get("id", ""))
    return selectors.webhook_list(account=account)


def _me(request, account, params):
    return {
        "Company": account.name,
        "Currency": account.base_currency,
        "TaxCalculation": "Exclusive",
        "DefaultLocation": "Main Warehouse",
        "AccountID": account.account_id,
    }


ROUTES = {
    ("GET", "me"): _me,
    ("GET", "customer"): _customers,
    ("POST", "customer"): _customer_create,
    ("PUT", "customer"): _customer_update,
    ("GET", "supplier"): _records(Kind.SUPPLIER),
    ("GET", "product"): _records(Kind.PRODUCT),
    ("GET", "ref/tax"): _records(Kind.TAX_RULE),
    ("GET", "ref/productavailability"): _records(Kind.AVAILABILITY),
    ("POST", "stockadjustment"): _stock_adjustment_create,
    ("GET", "salelist"): _sale_list,
    ("GET", "salecreditnotelist"): _credit_note_list,
    ("GET", "sale"): _sale,
    ("GET", "sale/order"): _sale_part("Order"),
    ("GET", "sale/invoice"): _sale_part("Invoices"),
    ("GET", "sale/creditnote"): _sale_part("CreditNotes"),
    ("GET", "sale/payment"): _payments,
    ("POST", "sale/payment"): _payment_create,
    ("GET", "webhooks"): _webhooks,
    ("POST", "webhooks"): _webhook_create,
    ("PUT", "webhooks"): _webhook_update,
    ("DELETE", "webhooks"): _webhook_delete,
}
PATHS = {path for _, path in ROUTES}


@csrf_exempt
def api(request, endpoint: str):
    """Every Cin7 Core API call: authenticate, count, inject faults, then run the endpoint."""
    try:
        account = _authenticate(request)
        path = endpoint.strip("/").lower()
        handler = ROUTES.get((request.method, path))
        if handler is None:
            if path in PATHS:
                raise Cin7Error(f"The requested resource does not support http method '{request.method}'.", status=405)
            raise Cin7Error(f"Endpoint '{endpoint}' not found", status=404)
        is_write = request.method != "GET"
        decision = fault_decision(system="cin7", account=account.account_id, is_write=is_write)
        if decision.outage:
            raise Cin7Error("Service is temporarily unavailable", status=503)
        if decision.error:
            raise Cin7Error("An unexpected error occurred", status=500)
        if decision.throttle:
            raise _limit_error(account, 60)
        if decision.rate_limits_enabled:
            window = window_hit(
                system="cin7", account=account.account_id, bucket="minute", limit=CALLS_PER_MINUTE, window_seconds=60
            )
            if not window.allowed:
                raise _limit_error(account, window.reset_seconds)
        params = {name.lower(): value for name, value in request.GET.items()}
        with transaction.atomic():
            result = handler(request, account, params)
    except Cin7Error as error:
        return _error(error)
    response = _json(result)
    if is_write and decision.drop:
        return drop_response(request, response)
    return response
