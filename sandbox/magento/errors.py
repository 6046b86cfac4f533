"""Magento's REST error bodies: {"message": "... %1 ...", "parameters": [...] or {...}} with the matching status."""

import json

from django.http import HttpResponse

NO_ROUTE = "Request does not match any route."
NO_ENTITY = "The entity that was requested doesn't exist. Verify the entity and try again."
NO_PRODUCT = "The product that was requested doesn't exist. Verify the product and try again."
NOT_AUTHORIZED = "The consumer isn't authorized to access %resources."
SIGN_IN_INCORRECT = (
    "The account sign-in was incorrect or your account is disabled temporarily. Please wait and try again later."
)
INTERNAL_ERROR = "Internal Error. Details are available in Magento log file. Report ID: %1"


class MagentoError(Exception):
    """Raised anywhere below a view; the dispatcher answers it in Magento's shape."""

    def __init__(self, status: int, message: str, parameters=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.parameters = parameters

    def response(self) -> HttpResponse:
        return error_response(self.status, self.message, self.parameters)


def error_response(status: int, message: str, parameters=None, headers: dict | None = None) -> HttpResponse:
    body = {"message": message}
    if parameters is not None:
        body["parameters"] = parameters
    response = HttpResponse(json.dumps(body), status=status, content_type="application/json; charset=utf-8")
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def not_found() -> MagentoError:
    return MagentoError(404, NO_ENTITY)


def invalid_type(value, expected: str) -> MagentoError:
    return MagentoError(
        400,
        'The "%value" value\'s type is invalid. The "%type" type was expected. Verify and try again.',
        {"value": str(value), "type": expected},
    )
