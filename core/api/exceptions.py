"""Every API error answers {"code", "message", "extra"}."""

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.errors import ApplicationError


def _validation_message(detail) -> str:
    if isinstance(detail, dict):
        field, problems = next(iter(detail.items()))
        first = problems[0] if isinstance(problems, list) and problems else problems
        if isinstance(first, dict):
            return _validation_message(first)
        return f"{field}: {first}" if field != "non_field_errors" else str(first)
    if isinstance(detail, list) and detail:
        return _validation_message(detail[0])
    return str(detail)


def exception_handler(exc, context):
    if isinstance(exc, ApplicationError):
        body = {"code": exc.code, "message": exc.message, "extra": exc.extra}
        return Response(body, status=exc.http_status)
    if isinstance(exc, RequestDataTooBig):
        body = {"code": "payload_too_large", "message": "The request body is too large.", "extra": {}}
        return Response(body, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        body = {"code": "invalid", "message": _validation_message(exc.detail), "extra": {"fields": exc.detail}}
    elif isinstance(exc, exceptions.ParseError):
        body = {"code": "malformed_body", "message": str(exc.detail), "extra": {}}
    else:
        code = exc.get_codes() if isinstance(exc, exceptions.APIException) else "error"
        body = {"code": code if isinstance(code, str) else "error", "message": str(exc.detail), "extra": {}}
    response.data = body
    return response
