"""The web process's ASGI application, for gunicorn's uvicorn workers: the usual webhook delivery stored and
answered on the event loop itself, any other delivery handed whole to the WSGI application in one of the worker's
threads, everything else through a2wsgi.

Why not gunicorn's threaded workers: there a delivery spent about half of its CPU in gunicorn itself (parsing HTTP in
Python, a selector round and a hand-off to a thread per request, writing the answer), more than in our code. A
uvicorn worker parses HTTP in C (httptools) on one event loop (uvloop) per process. The project stays a WSGI
application: every request but the usual delivery runs, in a thread of the worker's pool, through config.wsgi.

The usual delivery (WebhookFastPath.usual_delivery: a connection this process has cached, authentic, well formed,
every event the connection's own) never leaves the loop: the loop verifies and parses it with the very handler
the view uses, and stores it through its own database connection (sync.services.inbox.inbound_events_deliver_on_loop):
the deliveries that arrive while one statement commits go together in the next (AsyncGroupCommit), each answered once
its statement has committed. A thread took a hand-off there and back per delivery, plus the hand-offs between the
threads of a group (a thread to wake for each), and the pool's sixteen threads contended for the GIL. The answer
(status, headers) is built as the threaded path builds it (WebhookFastPath.answer). Everything else, a delivery
whose connection is not cached, a rejection, a malformed body, or one the loop could not store (a database that hung
up: stored again, a no-op if it had committed), goes to a thread and is answered by exactly the code it was before
(WebhookFastPath, then webhook_receive).

For those, the hand-off is once each way: the body is read on the event loop and the request goes to a thread once,
and its answer comes back once. a2wsgi, which serves every other request, streams the body from the loop to the
thread and the answer back piece by piece, a round trip per piece; for a delivery that cost more than gunicorn.
bench_webhooks (50 senders), server CPU per delivery: gthread 0.75–0.78 ms; a2wsgi alone 0.94; a thread per delivery
0.42–0.50; on the loop 0.28–0.41 (with its database CPU 0.10 -> 0.05–0.09: larger groups).

The body is read only up to the size limit: past it the delivery is refused (413) without the rest being read.
"""

import asyncio
import functools
import io
import logging
import re

from a2wsgi import WSGIMiddleware
from a2wsgi.wsgi import build_environ
from django.conf import settings
from django.core.handlers.exception import response_for_exception
from django.db import DatabaseError, close_old_connections
from django.utils import timezone

from sync.inbound.webhooks import connection_cache, webhook_accepted
from sync.inbound.wsgi import WebhookFastPath
from sync.models import InboundEvent
from sync.services.inbox import (
    ConnectionChanged,
    connection_backlog_enqueue,
    delivery_tally,
    inbound_events_deliver_on_loop,
    webhook_counts_flush,
)

logger = logging.getLogger(__name__)

# Deliveries are POSTs under /webhooks/; sync.inbound.wsgi.WebhookFastPath decides the rest (the route, 404s).
_WEBHOOK_PREFIX = "/webhooks/"
_CONTENT_LENGTH = re.compile(rb"[0-9]{1,18}")


class WebhookFront:
    """ASGI application over a WSGI one: webhook deliveries with one hand-off to a thread, the rest via a2wsgi.

    Both run in one pool of `threads` threads per process (a thread per request in progress, each with its
    database connection), as gunicorn's threaded workers did.
    """

    def __init__(self, application, *, threads: int):
        self.application = application
        self.threads_set(threads)

    def threads_set(self, threads: int) -> None:
        """Size the pool (the web server's hook calls this in each worker, with gunicorn's `threads`)."""
        self.wsgi = WSGIMiddleware(self.application, workers=threads)
        self.executor = self.wsgi.executor

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "POST" or not scope["path"].startswith(_WEBHOOK_PREFIX):
            return await self.wsgi(scope, receive, send)
        body = await _body_up_to(receive, scope, settings.API_MAX_BODY_BYTES)
        if body is None:
            return  # the client went away before its body was in: nobody to answer
        environ = build_environ(scope, io.BytesIO(body))
        if "CONTENT_LENGTH" not in environ:
            # Chunked: what was read stands for the length (Django reads no body without one); past the limit it is
            # the limit and one byte, enough for the size check to refuse it.
            environ["CONTENT_LENGTH"] = str(len(body))
        answer = await self._answer_on_loop(environ)
        if answer is None:
            environ["wsgi.input"] = io.BytesIO(body)  # the loop may have read it
            answer = await asyncio.get_running_loop().run_in_executor(self.executor, self._answer, environ)
        status, headers, content = answer
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})

    async def _answer_on_loop(self, environ) -> tuple[int, list[tuple[bytes, bytes]], bytes] | None:
        """The answer to the usual delivery (WebhookFastPath.usual_delivery), stored and answered on the loop; None
        for any other request, and for a delivery the loop could not store: the pool's threads answer those.

        A thread of the pool is still asked when the delivery queued its connection's inbox run (the task queue is
        the ORM's: a statement through Django's connections) and when the tally of accepted deliveries is due to be
        written, as webhook_stats_count would.
        """
        fast_path = self.application
        if not isinstance(fast_path, WebhookFastPath):
            return None
        try:
            usual = fast_path.usual_delivery(environ)
        except Exception:  # noqa: BLE001 - the threaded path answers it, as Django answers an error
            return None
        if usual is None:
            return None
        request, (handler, connection, events) = usual
        try:
            _, queued = await inbound_events_deliver_on_loop(
                connection=connection, source=InboundEvent.Source.WEBHOOK, events=events
            )
        except ConnectionChanged:
            connection_cache.forget(connection.webhook_token)  # the threaded path reads it again
            return None
        except Exception:  # noqa: BLE001 - stored again the threaded way (a no-op if this had committed)
            logger.warning(
                "storing a webhook delivery on the event loop failed; the threaded path stores it", exc_info=True
            )
            return None
        loop = asyncio.get_running_loop()
        if queued:
            try:
                enqueue = functools.partial(connection_backlog_enqueue, connection=connection)
                await loop.run_in_executor(self.executor, self._with_database, enqueue)
            except Exception as exc:  # noqa: BLE001 - answered as the threaded path answers it
                return _wire(*fast_path.answer(request, response_for_exception(request, exc)))
        # webhook_stats_count's accepted branch; the write, when due, in a thread, without holding the answer up.
        if delivery_tally.add(connection=connection, at=timezone.now(), seconds=settings.WEBHOOK_COUNT_SECONDS):
            loop.run_in_executor(self.executor, self._with_database, _counts_flush)
        return _wire(*fast_path.answer(request, webhook_accepted(handler)))

    @staticmethod
    def _with_database(function) -> None:
        """`function()` in a thread of the pool, with its database connection kept as a request's is."""
        close_old_connections()
        try:
            function()
        finally:
            close_old_connections()

    def _answer(self, environ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """The WSGI application's whole answer to `environ` (in a thread of the pool)."""
        answer = {}

        def start_response(status: str, headers, exc_info=None):
            answer["status"], answer["headers"] = status, headers

        chunks = self.application(environ, start_response)
        try:
            content = b"".join(chunks)
        finally:
            if hasattr(chunks, "close"):
                chunks.close()
        return _wire(answer["status"], answer["headers"], content)


def _wire(status: str, headers, content: bytes) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """A WSGI answer (status line, headers) as ASGI sends it."""
    headers = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers]
    return int(status.split(" ", 1)[0]), headers, content


def _counts_flush() -> None:
    try:
        webhook_counts_flush()
    except DatabaseError:
        # The deliveries are stored already; the counts stay in the tally for the next try.
        logger.exception("writing the webhook delivery counts failed; they are kept for the next try")


async def _body_up_to(receive, scope, limit: int) -> bytes | None:
    """The request body, or, when it is larger than `limit`, nothing (a declared length over it) or its first
    `limit` + 1 bytes (chunked): the application refuses either with 413 without the rest being read. None when
    the client disconnected first."""
    declared = next((value for name, value in scope["headers"] if name == b"content-length"), None)
    if declared is not None and _CONTENT_LENGTH.fullmatch(declared) and int(declared) > limit:
        return b""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":  # http.disconnect
            return None
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            return b"".join(chunks)[: limit + 1]
        if not message.get("more_body", False):
            return b"".join(chunks)
