"""bench_sync reaches the simulated Xero served on its own through SandboxServerTransport."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

from sandbox.transport import SandboxServerTransport


class _Echo(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - the standard library's name
        body = json.dumps({"host": self.headers["Host"], "path": self.path}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_every_request_goes_to_the_served_sandbox_with_the_host_it_was_addressed_to():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        origin = f"http://127.0.0.1:{server.server_address[1]}"
        with httpx.Client(transport=SandboxServerTransport(origin)) as client:
            answer = client.get("http://testserver/sandbox/xero/api.xro/2.0/Contacts?page=2")
    finally:
        server.shutdown()
        server.server_close()
    assert answer.status_code == 200
    # The connection's base URL names the in-process host: Django's ALLOWED_HOSTS sees that name, not the port.
    assert answer.json() == {"host": "testserver", "path": "/sandbox/xero/api.xro/2.0/Contacts?page=2"}
