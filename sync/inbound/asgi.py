"""The web process's ASGI application, for gunicorn's uvicorn workers: webhook deliveries handed whole to the WSGI
application in one of the worker's threads, everything else through a2wsgi.

Why not gunicorn's threaded workers: there a delivery spent about half of its CPU in gunicorn itself (parsing HTTP in
Python, a selector round and a hand-off to a thread per request, writing the answer), more than in our code. A
uvicorn worker parses HTTP in C (httptools) on one event loop (uvloop) per process. The project stays a WSGI
application: every request still runs, in a thread of the worker's pool, through config.wsgi, so a delivery is
answered by exactly the code it was before (sync.inbound.wsgi.WebhookFastPath, then webhook_receive), and the
deliveries that the pool's threads store at the same moment still share one statement (sync.services.group_commit).

What differs is the hand-off for a delivery: its body is read on the event loop and the request goes to a thread
once, and its answer comes back once. a2wsgi, which serves every other request, streams the body from the loop to
the thread and the answer back piece by piece, a round trip per piece; for a delivery that cost more than gunicorn.
bench_webhooks (50 senders): gthread 0.75–0.78 ms of server CPU per delivery; a2wsgi alone 0.94; this 0.42–0.50.

The body is read only up to the size limit: past it the delivery is refused (413) without the rest being read.
"""

import asyncio
import io
import re

from a2wsgi import WSGIMiddleware
from a2wsgi.wsgi import build_environ
from django.conf import settings

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
        status, headers, content = await asyncio.get_running_loop().run_in_executor(
            self.executor, self._answer, environ
        )
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})

    def _answer(self, environ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """The WSGI application's whole answer to `environ` (in a thread of the pool)."""
        answer = {}

        def start_response(status: str, headers, exc_info=None):
            answer["status"] = int(status.split(" ", 1)[0])
            answer["headers"] = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers]

        chunks = self.application(environ, start_response)
        try:
            content = b"".join(chunks)
        finally:
            if hasattr(chunks, "close"):
                chunks.close()
        return answer["status"], answer["headers"], content


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
