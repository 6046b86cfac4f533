import json

from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from sandbox.faults import drop_response
from sandbox.partner.services import partner_delivery_receive


@csrf_exempt
@require_POST
def hooks(request, name: str):
    """POST /sandbox/partner/<name>/hooks: record the delivery; answer as the receiver is told to."""
    headers = dict(request.headers.items())
    status, drop = partner_delivery_receive(name=name, headers=headers, body=request.body)
    response = HttpResponse(json.dumps({"received": status < 300}), status=status, content_type="application/json")
    return drop_response(request, response) if drop else response
