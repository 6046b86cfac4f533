"""POST /webhooks/<provider>/<connection token>/: verify on the raw bytes, store in the inbox, answer at once.

Nothing parses the body before its signature is checked (no DRF, no form parsing). A bad signature stores
nothing but the connection's rejection counter; processing happens later, in the webhooks queue.
"""

import logging

from django.conf import settings
from django.db import connection as db
from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from connections.models import Connection
from core.middleware import error_response
from sync.inbound.deliveries import HANDLERS, MalformedDelivery
from sync.inbound.services import webhook_delivery_reject, webhook_delivery_store
from sync.services.inbox import webhook_stats_count
from tenants.scoping import tenant_scope

logger = logging.getLogger(__name__)
MAX_TOKEN_LENGTH = 64


class BodyTooLarge(Exception):
    pass


def _raw_body(request, limit: int) -> bytes:
    """The body, read at most `limit` + 1 bytes far: a chunked upload without Content-Length is bounded too."""
    body = request._body if hasattr(request, "_body") else request.read(limit + 1)
    if len(body) > limit:
        raise BodyTooLarge
    return body


def _not_found() -> HttpResponse:
    return error_response(status=404, code="not_found", message="No such webhook endpoint.")


# In the model's field order, as Model.from_db expects them.
_CONNECTION_FIELDS = [
    field.attname
    for field in Connection._meta.concrete_fields
    if field.attname in {"id", "tenant_id", "provider", "external_account_id", "webhook_secret_ciphertext", "status"}
]
# Raw SQL: every delivery looks its connection up, and building this query through the ORM cost several times
# what running it does.
_CONNECTION_BY_TOKEN = f"""
    SELECT {", ".join(_CONNECTION_FIELDS)} FROM {Connection._meta.db_table}
    WHERE webhook_token = %s AND status <> %s
"""  # noqa: S608 - our own column and table names; the token is a parameter


def _connection_for(token: str, provider: str) -> Connection | None:
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    # No tenant scope: the URL names no tenant; the token (256 random bits, globally unique) is the only key, and
    # the connection's own tenant scope is entered as soon as it is known.
    with db.cursor() as cursor:
        cursor.execute(_CONNECTION_BY_TOKEN, [token, Connection.Status.DISCONNECTED])
        row = cursor.fetchone()
    if row is None:
        return None
    connection = Connection.from_db(db.alias, _CONNECTION_FIELDS, row)
    return connection if connection.provider == provider else None


@csrf_exempt
@require_POST
def webhook_receive(request, provider: str, token: str):
    handler = HANDLERS.get(provider)
    connection = _connection_for(token, provider) if handler else None
    if connection is None:
        return _not_found()
    limit = settings.API_MAX_BODY_BYTES
    try:
        body = _raw_body(request, limit)
    except BodyTooLarge:
        return error_response(
            status=413,
            code="payload_too_large",
            message=f"The request body is larger than the limit of {limit} bytes.",
            extra={"limit_bytes": limit},
        )
    with tenant_scope(connection.tenant_id):
        reason = handler.authenticate(request=request, body=body, connection=connection)
        if reason:
            webhook_stats_count(connection=connection, accepted=False, reason=reason)
            logger.warning("webhook for connection %s refused: %s", connection.pk, reason)
            return error_response(status=401, code="bad_signature", message="The delivery is not authentic.")
        try:
            items = handler.parse(request=request, body=body)
        except MalformedDelivery as exc:
            webhook_delivery_reject(connection=connection, body=body, reason=str(exc))
            webhook_stats_count(connection=connection, accepted=False, reason=f"malformed: {exc}")
            return handler.malformed(str(exc))
        if items:
            # One transaction: the events and their enqueued processing commit together, durably.
            webhook_delivery_store(connection=connection, items=items)
        # After that commit: the counter is not worth holding the delivery's transaction open (see the service).
        webhook_stats_count(connection=connection, accepted=True)
    return handler.accepted()
