"""POST /webhooks/<provider>/<connection token>/: verify on the raw bytes, store in the inbox, answer at once.

Nothing parses the body before its signature is checked (no DRF, no form parsing). A bad signature stores
nothing but the connection's rejection counter; processing happens later, in the webhooks queue.
"""

import logging
import time
from typing import NamedTuple

from django.conf import settings
from django.db import DataError
from django.db import connection as db
from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from connections.models import Connection
from core.middleware import error_response
from core.prepared import connection_check_local
from sync.inbound.deliveries import HANDLERS, MalformedDelivery, WebhookHandler
from sync.inbound.services import for_connection_itself, webhook_delivery_reject, webhook_delivery_store
from sync.services.inbox import ConnectionChanged, webhook_stats_count
from tenants.scoping import tenant_scope

logger = logging.getLogger(__name__)
MAX_TOKEN_LENGTH = 64


class BodyTooLarge(Exception):
    pass


UNSTORABLE = "The delivery's JSON holds a value that cannot be stored (a NUL character, NaN or a lone surrogate)."


def _raw_body(request, limit: int) -> bytes:
    """The body, read at most `limit` + 1 bytes far: a chunked upload without Content-Length is bounded too."""
    body = request._body if hasattr(request, "_body") else request.read(limit + 1)
    if len(body) > limit:
        raise BodyTooLarge
    return body


def _not_found() -> HttpResponse:
    return error_response(status=404, code="not_found", message="No such webhook endpoint.")


# In the model's field order, as Model.from_db expects them: what receiving a delivery reads, and what the storing
# statement checks is unchanged (sync.services.inbox.inbound_events_deliver).
_CONNECTION_FIELDS = [
    field.attname
    for field in Connection._meta.concrete_fields
    if field.attname
    in {"id", "tenant_id", "provider", "external_account_id", "webhook_secret_ciphertext", "webhook_token", "status"}
]
# Raw SQL: every delivery looks its connection up, and building this query through the ORM cost several times
# what running it does.
_CONNECTION_BY_TOKEN = f"""
    SELECT {", ".join(_CONNECTION_FIELDS)} FROM {Connection._meta.db_table}
    WHERE webhook_token = %s AND status <> %s
"""  # noqa: S608 - our own column and table names; the token is a parameter


class ConnectionCache:
    """Connections by webhook token, per process, for `seconds`: a burst of deliveries reads its connection once.

    An entry is a hint, never an authority. The statement that stores a delivery checks the row still has the
    token, status, organisation and secret the entry was read with (ConnectionChanged otherwise); every other
    outcome (a rejection, a malformed or oversize body) re-reads the connection first; an unknown token always asks
    the database. So a rotated webhook secret, a new token or a disconnect takes effect at once in every process,
    and `seconds` only bounds how long an entry lingers. Threads of one worker share it (dict operations are
    atomic in CPython; two threads missing at once both read, which is harmless).
    """

    def __init__(self, *, seconds: float, max_entries: int):
        self.seconds = seconds
        self.max_entries = max_entries
        self._entries: dict[str, tuple[float, Connection]] = {}

    def get(self, token: str) -> Connection | None:
        entry = self._entries.get(token)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, token: str, connection: Connection, *, seconds: float | None = None) -> None:
        if len(self._entries) >= self.max_entries:
            self._entries.clear()  # tokens are few; this only stops a flood of distinct ones from growing it
        self._entries[token] = (time.monotonic() + (self.seconds if seconds is None else seconds), connection)

    def forget(self, token: str) -> None:
        self._entries.pop(token, None)

    def clear(self) -> None:
        self._entries.clear()


connection_cache = ConnectionCache(seconds=60.0, max_entries=10_000)


def _connection_read(token: str) -> Connection | None:
    """The live connection with this webhook token, from the database."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    # No tenant scope: the URL names no tenant; the token (256 random bits, globally unique) is the only key, and
    # the connection's own tenant scope is entered as soon as it is known.
    connection_check_local()
    with db.cursor() as cursor:
        cursor.execute(_CONNECTION_BY_TOKEN, [token, Connection.Status.DISCONNECTED])
        row = cursor.fetchone()
    if row is None:
        return None
    return Connection.from_db(db.alias, _CONNECTION_FIELDS, row)


class _ReadAgain(Exception):
    """The cached connection cannot decide this delivery's answer: read it from the database and start over."""


@csrf_exempt
@require_POST
def webhook_receive(request, provider: str, token: str):
    response = _answer(request, provider, token)
    # As CommonMiddleware sets it on every other page (webhooks skip it): without it gunicorn answers chunked, with
    # one more write per delivery for the empty last chunk.
    if not response.has_header("Content-Length"):
        response.headers["Content-Length"] = str(len(response.content))
    return response


def _answer(request, provider: str, token: str):
    handler = HANDLERS.get(provider)
    if handler is None:
        return _not_found()
    limit = settings.API_MAX_BODY_BYTES
    body = None
    cached = connection_cache.get(token)
    if cached is not None and cached.provider == provider:
        body = _bounded_body(request, limit)
        try:
            return _receive(request, handler, cached, body, limit, from_cache=True)
        except _ReadAgain:
            connection_cache.forget(token)
    connection = _connection_read(token)
    if connection is None or connection.provider != provider:
        return _not_found()
    connection_cache.put(token, connection)
    if body is None:
        body = _bounded_body(request, limit)
    try:
        return _receive(request, handler, connection, body, limit, from_cache=False)
    except _ReadAgain:
        # Changed between our read and our write (a disconnect or rotation this very moment): as if it came first.
        connection_cache.forget(token)
        return _not_found()


class UsualDelivery(NamedTuple):
    """An authentic, well-formed delivery of a cached connection, all of whose events are the connection's own."""

    handler: WebhookHandler
    connection: Connection
    events: list[tuple[str, str, object]]  # (kind, dedupe key, body), as inbound_events_deliver takes them


def webhook_usual_delivery(request, provider: str, token: str) -> UsualDelivery | None:
    """The delivery when it is the usual one, which the web server's event loop stores and answers itself
    (sync.inbound.asgi); None for anything else, which webhook_receive answers (a connection not in this process's
    cache, a body over the limit, a rejection, a malformed body, events for other organisations, SQLite).

    Touches no database: what it decides rests on the cache, as webhook_receive's usual outcome does, and the
    statement that stores the events checks the connection row (ConnectionChanged otherwise).
    """
    handler = HANDLERS.get(provider)
    connection = connection_cache.get(token)
    if handler is None or connection is None or connection.provider != provider or db.vendor != "postgresql":
        return None
    body = _bounded_body(request, settings.API_MAX_BODY_BYTES)
    if body is None:
        return None
    with tenant_scope(connection.tenant_id):
        if handler.authenticate(request=request, body=body, connection=connection):
            return None
        try:
            items = handler.parse(request=request, body=body)
        except MalformedDelivery:
            return None
    if not items or not all(for_connection_itself(item, connection) for item in items):
        return None
    return UsualDelivery(handler, connection, [(item.kind, item.dedupe_key, item.body) for item in items])


def webhook_accepted(handler: WebhookHandler) -> HttpResponse:
    """The answer to a stored delivery."""
    response = handler.accepted()
    # As CommonMiddleware sets it on every other page (webhooks skip it): without it gunicorn answers chunked, with
    # one more write per delivery for the empty last chunk.
    if not response.has_header("Content-Length"):
        response.headers["Content-Length"] = str(len(response.content))
    return response


def _bounded_body(request, limit: int) -> bytes | None:
    """The raw body, or None when it is over the limit."""
    try:
        return _raw_body(request, limit)
    except BodyTooLarge:
        return None


def _receive(request, handler, connection: Connection, body: bytes | None, limit: int, *, from_cache: bool):
    """Authenticate, parse, store and answer one delivery for `connection`.

    Only the usual outcome, a stored delivery, may rest on a cached connection (its statement checks the row);
    any other answer raises _ReadAgain when `connection` came from the cache.
    """
    if body is None:
        if from_cache:
            raise _ReadAgain
        return error_response(
            status=413,
            code="payload_too_large",
            message=f"The request body is larger than the limit of {limit} bytes.",
            extra={"limit_bytes": limit},
        )
    with tenant_scope(connection.tenant_id):
        reason = handler.authenticate(request=request, body=body, connection=connection)
        if reason:
            if from_cache:
                raise _ReadAgain
            webhook_stats_count(connection=connection, accepted=False, reason=reason)
            logger.warning("webhook for connection %s refused: %s", connection.pk, reason)
            return error_response(status=401, code="bad_signature", message="The delivery is not authentic.")
        try:
            items = handler.parse(request=request, body=body)
        except MalformedDelivery as exc:
            if from_cache:
                raise _ReadAgain from None
            webhook_delivery_reject(connection=connection, body=body, reason=str(exc))
            webhook_stats_count(connection=connection, accepted=False, reason=f"malformed: {exc}")
            return handler.malformed(str(exc))
        if items:
            try:
                # Committed, durably, before the answer: the events and their queued processing together.
                webhook_delivery_store(connection=connection, items=items)
            except ConnectionChanged:
                raise _ReadAgain from None
            except DataError:
                # JSON that PostgreSQL's jsonb cannot hold (a NUL character, NaN, a lone surrogate): nothing of it
                # was stored; it is kept as rejected, with why, as any other unusable delivery is.
                webhook_delivery_reject(connection=connection, body=body, reason=UNSTORABLE)
                webhook_stats_count(connection=connection, accepted=False, reason="malformed: unstorable JSON")
                return handler.malformed(UNSTORABLE)
        # After that commit: the counter is not worth holding the delivery's transaction open (see the service).
        webhook_stats_count(connection=connection, accepted=True)
    return handler.accepted()
