import json

from django.conf import settings
from django.http import HttpResponse


def error_response(*, status: int, code: str, message: str, extra: dict | None = None) -> HttpResponse:
    """An error in the API's one shape, for code paths outside DRF (middleware, 404 handlers)."""
    body = json.dumps({"code": code, "message": message, "extra": extra or {}})
    return HttpResponse(body, status=status, content_type="application/json")


def body_size_refusal(request) -> HttpResponse | None:
    """The answer to a request whose declared Content-Length is over settings.API_MAX_BODY_BYTES (413) or not a
    number (400); None for any other."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return error_response(status=400, code="bad_request", message="Content-Length is not a number.")
    limit = settings.API_MAX_BODY_BYTES
    if length > limit:
        return error_response(
            status=413,
            code="payload_too_large",
            message=f"The request body is {length} bytes; the limit is {limit}.",
            extra={"limit_bytes": limit},
        )
    return None


class BodySizeLimitMiddleware:
    """Refuse oversize bodies with 413 before anything reads them.

    Django alone turns an oversize body into a 400 (RequestDataTooBig) only once a parser reads it; a declared
    Content-Length over the limit is refused here at once. Chunked bodies are caught by the API exception handler.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return body_size_refusal(request) or self.get_response(request)
