"""Reach the sandbox from httpx without a network: Django's WSGI app as an httpx transport.

Used by tests, benchmarks and chaos runs. A response the simulator marked as dropped becomes an httpx.ReadTimeout,
which is what a caller sees when a write was applied and the answer never came back.
"""

import httpx

from sandbox.faults import DROP_HEADER, IN_PROCESS_HEADER


class SandboxTransport(httpx.WSGITransport):
    def __init__(self, app=None, **kwargs):
        if app is None:
            from django.core.wsgi import get_wsgi_application

            app = get_wsgi_application()
        super().__init__(app=app, **kwargs)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.headers[IN_PROCESS_HEADER] = "1"
        response = super().handle_request(request)
        if response.headers.get(DROP_HEADER):
            raise httpx.ReadTimeout("the sandbox applied the request and dropped the response", request=request)
        return response


def sandbox_client(base_url: str = "http://testserver", **kwargs) -> httpx.Client:
    """An httpx client whose requests go straight into this process's Django app."""
    return httpx.Client(transport=SandboxTransport(), base_url=base_url, **kwargs)
