"""The REST front door of the simulated Magento: store code, faults, Bearer auth, routing, Magento's error bodies.

The sandbox account of a request is the store it reaches: named by the store view code in /rest/<code>/V1/, or,
under /rest/V1/, /rest/default/V1/ and /rest/all/V1/, by the store its Bearer token belongs to. A token of one
store is refused by another store's URL, so one store never sees another's records.
"""

import json
import secrets

from django.db import connection
from django.http import HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from sandbox.faults import drop_response, fault_decision
from sandbox.magento import services
from sandbox.magento.endpoints import Context, RawJSON, route_match
from sandbox.magento.errors import (
    INTERNAL_ERROR,
    NO_ROUTE,
    NOT_AUTHORIZED,
    SIGN_IN_INCORRECT,
    MagentoError,
    error_response,
)
from sandbox.magento.fields import apply_fields
from sandbox.magento.models import AccessToken, Store, StoreView

SYSTEM = "magento"
GENERIC_CODES = ("default", "all")
THROTTLE_RETRY_AFTER = "2"


def _json_response(value, status: int = 200) -> HttpResponse:
    text = value.text if isinstance(value, RawJSON) else json.dumps(value)
    return HttpResponse(text, status=status, content_type="application/json; charset=utf-8")


def _bearer(request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _token_row(token: str | None):
    if not token:
        return None
    return AccessToken.objects.select_related("store").filter(token=token, revoked=False).first()


def _view_and_token(store_code: str, token: str | None) -> tuple[StoreView | None, AccessToken | None]:
    """The store view a request's code names (with its store) and its Bearer token's row, if still unrevoked.

    On PostgreSQL one plain statement reads both: every request starts here, and two ORM queries, compiled anew each
    time, cost the simulator more than a small page's own search (it answers inside the poll's process)."""
    if connection.vendor != "postgresql":
        view = StoreView.objects.select_related("store").filter(code=store_code).first()
        return view, _token_row(token)
    with connection.cursor() as cursor:
        cursor.execute(_VIEW_AND_TOKEN, [token, store_code])
        row = cursor.fetchone()
    if row is None:
        return None, None
    store_at = len(_VIEW_FIELDS)
    token_at = store_at + len(_STORE_FIELDS)
    view = _loaded(StoreView, _VIEW_FIELDS, row[:store_at])
    view.store = _loaded(Store, _STORE_FIELDS, row[store_at:token_at])
    token_found = row[token_at] is not None
    return view, (_loaded(AccessToken, _TOKEN_FIELDS, row[token_at:]) if token_found else None)


def _fields(model) -> list:
    return list(model._meta.concrete_fields)


def _selected(alias: str, fields: list) -> str:
    return ", ".join(f'{alias}."{field.column}"' for field in fields)


def _loaded(model, fields: list, values):
    """A model instance from a plain statement's values, as the ORM would load it (a JSON field decoded)."""
    values = [
        field.from_db_value(value, None, connection) if hasattr(field, "from_db_value") else value
        for field, value in zip(fields, values, strict=True)
    ]
    return model.from_db(connection.alias, [field.attname for field in fields], values)


_VIEW_FIELDS, _STORE_FIELDS, _TOKEN_FIELDS = _fields(StoreView), _fields(Store), _fields(AccessToken)
# Only table and column names are formatted in; the token and the code are parameters.
_VIEW_AND_TOKEN = f"""
    SELECT {_selected("v", _VIEW_FIELDS)}, {_selected("s", _STORE_FIELDS)}, {_selected("t", _TOKEN_FIELDS)}
    FROM "{StoreView._meta.db_table}" v
    JOIN "{Store._meta.db_table}" s ON s.id = v.store_id
    LEFT JOIN "{AccessToken._meta.db_table}" t ON t.token = %s AND NOT t.revoked
    WHERE v.code = %s
"""  # noqa: S608


def _token_valid(row: AccessToken | None, store) -> bool:
    if row is None or row.store_id != store.pk:
        return False
    if row.expires_at is not None and row.expires_at <= timezone.now():
        return False
    return not (row.kind == AccessToken.Kind.INTEGRATION and not store.integration_bearer_enabled)


def _body(request):
    if not request.body:
        return None
    try:
        return json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        raise MagentoError(400, "Decoding error.") from None


def _fault_response(decision) -> HttpResponse | None:
    if decision.outage:
        return error_response(503, "Service Temporarily Unavailable")
    if decision.error:
        return error_response(500, INTERNAL_ERROR, ["webapi-" + secrets.token_hex(6)])
    if decision.throttle:
        # Magento has no limit of its own on admin REST; this 429 is what a proxy/WAF in front of it answers.
        return error_response(429, "Too Many Requests", headers={"Retry-After": THROTTLE_RETRY_AFTER})
    return None


@csrf_exempt
def rest(request, endpoint: str, store_code: str | None = None):
    """Every /rest/[<store_code>/]V1/<endpoint> request."""
    try:
        return _rest(request, endpoint.strip("/"), store_code)
    except MagentoError as exc:
        return exc.response()


def _rest(request, endpoint: str, store_code: str | None) -> HttpResponse:
    method = request.method.upper()
    view = None
    if store_code and store_code not in GENERIC_CODES:
        view, token_row = _view_and_token(store_code, _bearer(request))
        if view is None:
            # Magento keeps an unknown code as part of the path, which then matches no route.
            return error_response(404, NO_ROUTE)
    else:
        token_row = None

    if endpoint == "integration/admin/token" and method == "POST":
        return _admin_token(request, view)

    if view is None:
        token_row = _token_row(_bearer(request))
    store = view.store if view else (token_row.store if token_row else None)
    route, args = route_match(method, endpoint)
    resource = route.resource if route else "Magento_Backend::admin"

    if store is not None:
        decision = fault_decision(system=SYSTEM, account=store.code, is_write=bool(route and route.is_write))
        failed = _fault_response(decision)
        if failed is not None:
            return failed
    else:
        decision = None

    if store is None or not _token_valid(token_row, store):
        return error_response(401, NOT_AUTHORIZED, {"resources": resource})
    if route is None:
        return error_response(404, NO_ROUTE)
    if view is None:
        view = store.views.order_by("magento_id").first()

    ctx = Context(request=request, store=store, view=view, body=_body(request) if route.is_write else None)
    result = route.handler(ctx, *args)
    if "fields" in request.GET and request.GET["fields"].strip():
        result = apply_fields(json.loads(result.text) if isinstance(result, RawJSON) else result, request.GET["fields"])
    response = _json_response(result)
    if decision is not None and decision.drop and route.is_write:
        # The write above is committed (services are atomic); now the answer is lost.
        return drop_response(request, response)
    return response


def _admin_token(request, view) -> HttpResponse:
    store = view.store if view else None
    decision = fault_decision(system=SYSTEM, account=store.code, is_write=True) if store else None
    if decision is not None:
        failed = _fault_response(decision)
        if failed is not None:
            return failed
    body = _body(request)
    body = body if isinstance(body, dict) else {}
    missing = [name for name in ("username", "password") if not body.get(name)]
    if missing:
        errors = [
            {"message": '"%fieldName" is required. Enter and try again.', "parameters": {"fieldName": name}}
            for name in missing
        ]
        response = error_response(400, "One or more input exceptions have occurred.")
        response.content = json.dumps({"message": "One or more input exceptions have occurred.", "errors": errors})
        return response
    token = services.admin_token_issue(store=store, username=str(body["username"]), password=str(body["password"]))
    if token is None:
        return error_response(401, SIGN_IN_INCORRECT)
    response = _json_response(token)
    if decision is not None and decision.drop:
        return drop_response(request, response)
    return response
