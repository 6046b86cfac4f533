"""Xero's error answers, in the shapes its clients parse (research/xero.md §10)."""

import uuid

from django.http import HttpResponse

from sandbox.xero.wire import json_response


class ElementInvalid(Exception):  # noqa: N818 - a validation outcome, not a crash
    """One element of a write was refused; the messages are Xero's ValidationErrors."""

    def __init__(self, *messages: str):
        super().__init__("; ".join(messages))
        self.messages = list(messages)


class RequestInvalid(Exception):  # noqa: N818
    """The whole request was refused with a 400 ValidationException that has no elements."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class NotFound(Exception):  # noqa: N818
    pass


def validation_exception(elements: list | None = None, message: str = "A validation exception occurred"):
    body = {"ErrorNumber": 10, "Type": "ValidationException", "Message": message}
    if elements is not None:
        body["Elements"] = elements
    return json_response(body, status=400)


def unauthorized(detail: str, *, expired: bool = False) -> HttpResponse:
    body = {"Type": None, "Title": "Unauthorized", "Status": 401, "Detail": detail, "Instance": str(uuid.uuid4())}
    challenge = 'Bearer error="invalid_token"'
    if expired:
        challenge += f', error_description="{detail}"'
    return json_response(body, status=401, headers={"WWW-Authenticate": challenge})


def forbidden(detail: str = "AuthenticationUnsuccessful") -> HttpResponse:
    body = {"Type": None, "Title": "Forbidden", "Status": 403, "Detail": detail, "Instance": str(uuid.uuid4())}
    return json_response(body, status=403)


def not_found() -> HttpResponse:
    # Xero answers an unknown resource with a plain-text body.
    return HttpResponse("The resource you're looking for cannot be found", status=404, content_type="text/plain")


def rate_limited(problem: str, retry_after: int, headers: dict) -> HttpResponse:
    response = HttpResponse("", status=429, content_type="text/plain")
    for name, value in headers.items():
        response[name] = value
    response["Retry-After"] = str(retry_after)
    response["X-Rate-Limit-Problem"] = problem
    return response


def server_error() -> HttpResponse:
    body = {
        "Title": "An error occurred",
        "Detail": "An error occurred in Xero. Check the API Status page http://status.developer.xero.com for current "
        "service status.",
        "Status": 500,
    }
    return json_response(body, status=500)


def service_unavailable(message: str = "The Xero API is currently offline for maintenance") -> HttpResponse:
    # Xero's 503s are plain text (maintenance, or "Organisation offline").
    return HttpResponse(message, status=503, content_type="text/plain")


def oauth_error(error: str, status: int = 400) -> HttpResponse:
    return json_response({"error": error}, status=status)
