"""POST /webhooks/<provider>/<token>/ answered from the WSGI entry point, past Django's middleware chain.

Every delivery used to pay for the whole request machinery: seven middleware wrappers, URL resolving, WhiteNoise's
static check, then WebhookShortcutMiddleware skipping the rest: a third of the CPU a delivery cost in-process. Here a
POST whose path has the webhook shape goes straight to the same view (sync.inbound.webhooks.webhook_receive) with
the same request object, and gets exactly what the middleware above the shortcut would have done for it:
SecurityMiddleware (the HTTPS redirect and its headers), the body size limit, Django's answer to an exception (404,
500, logged, got_request_exception) and the 4xx/5xx log line. Anything else (another method or path) takes the full
handler, and the view is the one the test client exercises.

The request_started and request_finished signals are not sent (their dispatch was a tenth of a worker's CPU); what
their receivers do for this path is done directly: close_old_connections before and after (CONN_MAX_AGE, a connection
left broken by an error, the health check re-armed). The others have nothing to do here: reset_queries only matters
with DEBUG's query log, close_caches closes cache connections this path never opens, reset_urlconf undoes a urlconf
it never sets.
"""

import re

from django.core.handlers.exception import response_for_exception
from django.core.handlers.wsgi import WSGIHandler, WSGIRequest, get_path_info, get_script_name
from django.db import close_old_connections
from django.middleware.security import SecurityMiddleware
from django.urls import set_script_prefix
from django.utils.log import log_response

from core.middleware import body_size_refusal
from sync.inbound.webhooks import UsualDelivery, webhook_receive, webhook_usual_delivery

# The route of sync.inbound.urls under /webhooks/ (<slug:provider>/<str:token>/); a test checks they agree.
WEBHOOK_PATH = re.compile(r"/webhooks/(?P<provider>[-a-zA-Z0-9_]+)/(?P<token>[^/]+)/")


class WebhookFastPath:
    """WSGI application: webhook deliveries answered directly, everything else by Django's handler."""

    def __init__(self, application: WSGIHandler, *, connection_upkeep=close_old_connections):
        self.application = application
        # Tests pass a no-op, as Django's test client disconnects close_old_connections: it would end their transaction.
        self.connection_upkeep = connection_upkeep
        # The project's first middleware, used for what it does to a request and its response; it never calls on.
        self.security = SecurityMiddleware(self._never_called)

    @staticmethod
    def _never_called(request):
        raise AssertionError("SecurityMiddleware is only asked to process the request and the response")

    def __call__(self, environ, start_response):
        if environ.get("REQUEST_METHOD") != "POST" or not environ.get("PATH_INFO", "").startswith("/webhooks/"):
            return self.application(environ, start_response)
        match = WEBHOOK_PATH.fullmatch(get_path_info(environ))  # the path as Django decodes it
        if match is None:
            return self.application(environ, start_response)
        # What WSGIHandler.__call__ and BaseHandler.get_response do around the middleware chain.
        set_script_prefix(get_script_name(environ))
        self.connection_upkeep()
        request = WSGIRequest(environ)
        try:
            response = self.security.process_request(request) or body_size_refusal(request)
            if response is None:
                response = webhook_receive(request, match["provider"], match["token"])
        except Exception as exc:  # noqa: BLE001 - answered as Django answers it (logged, signalled)
            response = response_for_exception(request, exc)
        status, headers, content = self.answer(request, response)
        start_response(status, headers)
        self.connection_upkeep()
        return [content]

    def usual_delivery(self, environ) -> tuple[WSGIRequest, UsualDelivery] | None:
        """For the web server's event loop (sync.inbound.asgi): the request and its delivery when it is a webhook
        delivery that the loop may store and answer itself (webhook_usual_delivery), past what SecurityMiddleware
        and the size limit do to a request; None when the usual path has to answer it. Touches no database."""
        match = WEBHOOK_PATH.fullmatch(get_path_info(environ))
        if environ.get("REQUEST_METHOD") != "POST" or match is None:
            return None
        set_script_prefix(get_script_name(environ))
        request = WSGIRequest(environ)
        if self.security.process_request(request) or body_size_refusal(request):
            return None
        delivery = webhook_usual_delivery(request, match["provider"], match["token"])
        return None if delivery is None else (request, delivery)

    def answer(self, request: WSGIRequest, response) -> tuple[str, list[tuple[str, str]], bytes]:
        """The response as sent (status line, headers, content), after what SecurityMiddleware adds and the log line
        of a 4xx/5xx; the request's files are closed (what closing the response does, but request_finished)."""
        response = self.security.process_response(request, response)
        if response.status_code >= 400:
            log_response("%s: %s", response.reason_phrase, request.path, response=response, request=request)
        headers = [*response.items(), *(("Set-Cookie", c.output(header="")) for c in response.cookies.values())]
        content = response.content  # the view's answers are never streamed
        request.close()
        return f"{response.status_code} {response.reason_phrase}", headers, content
