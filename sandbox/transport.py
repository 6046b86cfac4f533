"""Reach the sandbox from httpx without a network: Django's WSGI app as an httpx transport.

Used by tests, benchmarks and chaos runs. A response the simulator marked as dropped becomes an httpx.ReadTimeout,
which is what a caller sees when a write was applied and the answer never came back.
"""

import threading

import httpx
from django.core.signals import request_finished, request_started
from django.db import close_old_connections

from sandbox.faults import DROP_HEADER, IN_PROCESS_HEADER


class _ConnectionUpkeepSuspended:
    """While any thread is inside the simulator, Django's close_old_connections stays disconnected from the request
    signals: the first thread in disconnects it, the last one out reconnects it (a drain sends one batch while it
    reads another's contacts, both in process).

    Reconnected strongly (weak=False): a weak connect registers a weakref.finalize on the receiver every time, and
    close_old_connections lives as long as the process, so each request in process left two objects behind for
    good. Django's test client disconnects it by the same name around its requests.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._inside = 0

    def __enter__(self):
        with self._lock:
            if self._inside == 0:
                request_started.disconnect(close_old_connections)
                request_finished.disconnect(close_old_connections)
            self._inside += 1

    def __exit__(self, *exc_info):
        with self._lock:
            self._inside -= 1
            if self._inside == 0:
                request_started.connect(close_old_connections, weak=False)
                request_finished.connect(close_old_connections, weak=False)


_connection_upkeep_suspended = _ConnectionUpkeepSuspended()


class SandboxTransport(httpx.WSGITransport):
    def __init__(self, app=None, **kwargs):
        if app is None:
            from django.core.wsgi import get_wsgi_application

            app = get_wsgi_application()
        super().__init__(app=app, **kwargs)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.headers[IN_PROCESS_HEADER] = "1"
        # In process, the simulator shares the caller's database connection. Django closes connections it thinks
        # are stale at the start and end of every request, which would close the caller's (possibly inside a
        # transaction) too; Django's own test client suspends the same handlers for the same reason.
        with _connection_upkeep_suspended:
            wsgi_response = super().handle_request(request)
            # Drain and close inside the suspension: closing the WSGI iterator is what sends request_finished.
            content = wsgi_response.read()
            wsgi_response.close()
            response = httpx.Response(
                status_code=wsgi_response.status_code,
                headers=wsgi_response.headers,
                content=content,
                request=request,
            )
        if response.headers.get(DROP_HEADER):
            raise httpx.ReadTimeout("the sandbox applied the request and dropped the response", request=request)
        return response


def sandbox_client(base_url: str = "http://testserver", **kwargs) -> httpx.Client:
    """An httpx client whose requests go straight into this process's Django app."""
    return httpx.Client(transport=SandboxTransport(), base_url=base_url, **kwargs)


class SandboxServerTransport(httpx.HTTPTransport):
    """Reach the sandbox served on its own (core.management.gunicorn_server) over loopback HTTP: every request goes
    to `origin`, whatever its URL's host (a sandbox connection's base URL names the in-process host), and keeps its
    Host header. The simulator runs as a separate server, as the real one is; its faults act as over a network."""

    def __init__(self, origin: str, **kwargs):
        super().__init__(**kwargs)
        self.origin = httpx.URL(origin)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.url = request.url.copy_with(scheme=self.origin.scheme, host=self.origin.host, port=self.origin.port)
        return super().handle_request(request)
