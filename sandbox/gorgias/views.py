"""The Gorgias REST API (`/api/...` under the account's domain), as a sync product sees it.

One entry view does what Gorgias does for every call (HTTP Basic auth, the API key's leaky bucket and its
`X-Gorgias-Account-Api-Call-Limit` header, injected faults, the `{"error": {"msg", "data"}}` error shape); the
endpoint functions are thin wrappers around a selector or a service.
"""

import base64
import binascii
import hmac
import json
import re

from django.db import transaction
from django.db.models import Q
from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt

from sandbox.faults import drop_response, fault_decision
from sandbox.gorgias import selectors, services
from sandbox.gorgias.models import GorgiasAccount, GorgiasRecord
from sandbox.gorgias.services import BUCKET_SIZE, GorgiasApiError, not_found

Kind = GorgiasRecord.Kind
LIMIT_HEADER = "X-Gorgias-Account-Api-Call-Limit"


def _json(value, status=200) -> HttpResponse:
    return HttpResponse(json.dumps(value, ensure_ascii=False), status=status, content_type="application/json")


def _authenticate(request, domain: str) -> GorgiasAccount:
    account = GorgiasAccount.objects.filter(domain=domain.lower()).first()
    if account is None:
        raise not_found()
    header = request.headers.get("Authorization", "")
    scheme, _, encoded = header.partition(" ")
    try:
        email, _, key = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        email, key = "", ""
    valid = (
        scheme.lower() == "basic"
        and email.lower() == account.email.lower()
        and hmac.compare_digest(key.encode(), account.api_key.encode())
    )
    if not valid:
        raise GorgiasApiError(401, "Unauthorized. Please provide valid credentials.",
                              headers={"WWW-Authenticate": 'Basic realm="Gorgias API"'})  # fmt: skip
    return account


def _body(request) -> dict:
    try:
        data = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError) as exc:
        raise GorgiasApiError(400, "Invalid JSON body.") from exc
    if not isinstance(data, dict):
        raise GorgiasApiError(400, "Invalid JSON body.")
    return data


def _customers(request, account, params):
    return selectors.page(account=account, kind=Kind.CUSTOMER, params=params, path="/api/customers",
                          filters=selectors.customer_filters(params))  # fmt: skip


def _customer(request, account, params, id):
    customer = services.record_get(account=account, kind=Kind.CUSTOMER, record_id=id)
    if customer is None:
        raise not_found()
    return customer


def _tickets(request, account, params):
    return selectors.page(account=account, kind=Kind.TICKET, params=params, path="/api/tickets",
                          filters=selectors.ticket_filters(params))  # fmt: skip


def _messages(request, account, params, id):
    services.ticket_get(account=account, ticket_id=id)
    return selectors.page(account=account, kind=Kind.MESSAGE, params=params, path=f"/api/tickets/{id}/messages",
                          filters=Q(parent_id=id))  # fmt: skip


def _integrations(request, account, params):
    return selectors.page(account=account, kind=Kind.INTEGRATION, params=params, path="/api/integrations")


def _integration(request, account, params, id):
    integration = services.record_get(account=account, kind=Kind.INTEGRATION, record_id=id)
    if integration is None:
        raise not_found()
    return integration


ROUTES = [
    (re.compile(r"^customers/?$"), {
        "GET": _customers,
        "POST": lambda r, a, p: (services.customer_create(account=a, data=_body(r)), 201),
    }),
    (re.compile(r"^customers/(?P<id>\d+)/?$"), {
        "GET": _customer,
        "PUT": lambda r, a, p, id: services.customer_update(account=a, customer_id=id, data=_body(r)),
    }),
    (re.compile(r"^tickets/?$"), {
        "GET": _tickets,
        "POST": lambda r, a, p: (services.ticket_create(account=a, data=_body(r)), 201),
    }),
    (re.compile(r"^tickets/(?P<id>\d+)/?$"), {
        "GET": lambda r, a, p, id: services.ticket_get(account=a, ticket_id=id),
        "PUT": lambda r, a, p, id: services.ticket_update(account=a, ticket_id=id, data=_body(r)),
    }),
    (re.compile(r"^tickets/(?P<id>\d+)/messages/?$"), {
        "GET": _messages,
        "POST": lambda r, a, p, id: (services.ticket_message_create(account=a, ticket_id=id, data=_body(r)), 201),
    }),
    (re.compile(r"^integrations/?$"), {
        "GET": _integrations,
        "POST": lambda r, a, p: (services.integration_create(account=a, data=_body(r)), 201),
    }),
    (re.compile(r"^integrations/(?P<id>\d+)/?$"), {
        "GET": _integration,
        "PUT": lambda r, a, p, id: services.integration_update(account=a, integration_id=id, data=_body(r)),
        "DELETE": lambda r, a, p, id: (services.integration_delete(account=a, integration_id=id), 204),
    }),
]  # fmt: skip


def _route(method: str, path: str):
    for pattern, handlers in ROUTES:
        match = pattern.match(path)
        if match:
            if method not in handlers:
                raise GorgiasApiError(405, "Method not allowed.")
            return handlers[method], {k: int(v) for k, v in match.groupdict().items()}
    raise not_found()


@csrf_exempt
def api(request, domain: str, endpoint: str):
    """Every Gorgias API call: authenticate, pour into the bucket, inject faults, then run the endpoint."""
    limit_header = None
    try:
        account = _authenticate(request, domain)
        handler, kwargs = _route(request.method, endpoint)
        is_write = request.method != "GET"
        decision = fault_decision(system="gorgias", account=account.domain, is_write=is_write)
        if decision.rate_limits_enabled:
            bucket = services.bucket_hit(account=account)
            limit_header = f"{bucket.used}/{BUCKET_SIZE}"
            if not bucket.allowed:
                raise GorgiasApiError(429, "Too Many Requests", headers={"Retry-after": str(bucket.retry_after)})
        if decision.outage:
            raise GorgiasApiError(503, "Service Unavailable")
        if decision.error:
            raise GorgiasApiError(500, "Internal Server Error")
        if decision.throttle:
            raise GorgiasApiError(429, "Too Many Requests", headers={"Retry-after": "1"})
        params = dict(request.GET.items())
        with transaction.atomic():
            result = handler(request, account, params, **kwargs)
    except GorgiasApiError as error:
        response = _json(error.body(), status=error.status)
        for name, value in error.headers.items():
            response[name] = value
    else:
        status = 200
        if isinstance(result, tuple):
            result, status = result
        response = HttpResponse(status=204) if status == 204 else _json(result, status=status)
        if is_write and decision.drop:
            response = drop_response(request, response)
    if limit_header:
        response[LIMIT_HEADER] = limit_header
    return response
