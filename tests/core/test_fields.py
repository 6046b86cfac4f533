import json

import pytest

from sync.models import InboundEvent
from tenants.scoping import tenant_scope
from tests.factories import InboundEventFactory, TenantFactory

# What orjson alone would read differently: integers beyond 64 bits (as floats).
DOCUMENT = {
    "big": 123456789012345678901234567890,
    "negative": -9223372036854775809,
    "amount": 0.1,
    "small": 1e-05,
    "name": "Zoë ☕",
    "nested": [None, True, {"b": 1, "a": 2}],
}


@pytest.mark.django_db
def test_json_documents_read_back_as_stored():
    tenant_a, tenant_b = TenantFactory(), TenantFactory()
    for tenant, label in ((tenant_a, "A"), (tenant_b, "B")):
        with tenant_scope(tenant):
            InboundEventFactory(tenant=tenant, body={**DOCUMENT, "tenant": label})
    with tenant_scope(tenant_a):
        (body,) = InboundEvent.objects.values_list("body", flat=True)
        event = InboundEvent.objects.get()
    # As text: an integer read as a float would compare equal (jsonb keeps keys in an order of its own).
    expected = json.dumps({**DOCUMENT, "tenant": "A"}, sort_keys=True)
    assert json.dumps(body, sort_keys=True) == expected
    assert json.dumps(event.body, sort_keys=True) == expected
