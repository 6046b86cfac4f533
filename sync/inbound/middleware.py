"""Deliveries to /webhooks/ skip the middleware made for people in browsers."""

from django.urls import resolve

WEBHOOK_PREFIX = "/webhooks/"


class WebhookShortcutMiddleware:
    """Sends /webhooks/ requests straight to their view, past the session, CSRF, auth, messages, clickjacking and
    allauth middleware below this one in settings.MIDDLEWARE.

    A webhook carries no cookie, no user and no form, and its view is CSRF-exempt: those layers would only set up
    lazy objects and response hooks on every delivery. The security headers and the body size limit, above this
    one, still apply. An unknown path raises Http404 like any other, answered by the project's 404 handler.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path_info.startswith(WEBHOOK_PREFIX):
            return self.get_response(request)
        match = resolve(request.path_info)
        request.resolver_match = match
        return match.func(request, *match.args, **match.kwargs)
