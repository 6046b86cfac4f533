"""The api.xro/2.0 entry point: route, then run through the gate (auth, tenant, faults, limits, idempotency)."""

from django.views.decorators.csrf import csrf_exempt

from sandbox.xero import errors
from sandbox.xero.views import gate
from sandbox.xero.views.resources import resolve


@csrf_exempt
def api_xro(request, path: str = ""):
    handler, kwargs = resolve(path, request.method)
    if handler is None:
        return gate.handle(request, path, lambda call: errors.not_found())
    return gate.handle(request, path, lambda call: handler(call, **kwargs))
