import json
from io import StringIO

import pytest
from django.core.management import call_command

from sandbox.transport import sandbox_client

pytestmark = pytest.mark.django_db


def _demo() -> dict:
    out = StringIO()
    call_command("sandbox_demo", "--json", stdout=out)
    return json.loads(out.getvalue())


def test_make_run_gets_accounts_that_answer():
    first = _demo()
    again = _demo()
    assert again["magento"] == first["magento"] and again["cin7"] == first["cin7"]
    assert again["xero"]["tenant_id"] == first["xero"]["tenant_id"]
    with sandbox_client() as http:
        assert first["magento"]["base_url"].endswith("/sandbox/magento/rest/demo/")
        magento = http.get(
            "/sandbox/magento/rest/demo/V1/orders?searchCriteria[pageSize]=5",
            headers={"Authorization": f"Bearer {first['magento']['access_token']}"},
        )
        assert magento.status_code == 200
        assert magento.json()["total_count"] == 120
        cin7 = http.get(
            "/sandbox/cin7/ExternalApi/v2/me",
            headers={
                "api-auth-accountid": first["cin7"]["account_id"],
                "api-auth-applicationkey": first["cin7"]["application_key"],
            },
        )
        assert cin7.status_code == 200
        gorgias = http.get(
            "/sandbox/gorgias/demo-helpdesk/api/customers",
            auth=(first["gorgias"]["email"], first["gorgias"]["api_key"]),
        )
        assert gorgias.status_code == 200
