"""Fixtures for the Xero simulator suite: two organisations and an httpx client into the app.

Spec validation of every api.xro request and response is on for the whole test suite (tests/conftest.py).
"""

from dataclasses import dataclass

import httpx
import pytest

from sandbox.transport import SandboxTransport
from sandbox.xero.services.orgs import organisation_create

API = "/sandbox/xero/api.xro/2.0"


@dataclass
class Org:
    info: dict
    http: httpx.Client

    @property
    def tenant_id(self) -> str:
        return self.info["tenant_id"]

    def headers(self, **extra) -> dict:
        return {"Authorization": f"Bearer {self.info['access_token']}", "xero-tenant-id": self.tenant_id, **extra}

    def get(self, path: str, **kwargs) -> httpx.Response:
        headers = self.headers(**kwargs.pop("headers", {}))
        return self.http.get(f"{API}/{path}", headers=headers, **kwargs)

    def put(self, path: str, body, **kwargs) -> httpx.Response:
        headers = self.headers(**kwargs.pop("headers", {}))
        return self.http.put(f"{API}/{path}", json=body, headers=headers, **kwargs)

    def post(self, path: str, body, **kwargs) -> httpx.Response:
        headers = self.headers(**kwargs.pop("headers", {}))
        return self.http.post(f"{API}/{path}", json=body, headers=headers, **kwargs)

    def delete(self, path: str, **kwargs) -> httpx.Response:
        headers = self.headers(**kwargs.pop("headers", {}))
        return self.http.delete(f"{API}/{path}", headers=headers, **kwargs)


@pytest.fixture
def http(db):
    with httpx.Client(transport=SandboxTransport(), base_url="http://testserver") as client:
        yield client


@pytest.fixture
def org_a(http) -> Org:
    return Org(organisation_create(name="Alpha Pty Ltd", country="AU"), http)


@pytest.fixture
def org_b(http) -> Org:
    return Org(organisation_create(name="Beta Ltd", country="GB"), http)


@pytest.fixture
def contact_id(org_a) -> str:
    response = org_a.put("Contacts", {"Contacts": [{"Name": "Acme Shop"}]})
    assert response.status_code == 200, response.text
    return response.json()["Contacts"][0]["ContactID"]


def invoice_body(contact_id: str, *lines, status="AUTHORISED", **fields) -> dict:
    lines = lines or ({"Description": "Widget", "Quantity": 1, "UnitAmount": 100, "AccountCode": "200"},)
    return {
        "Type": "ACCREC",
        "Contact": {"ContactID": contact_id},
        "Date": "2025-01-15",
        "DueDate": "2025-02-15",
        "Status": status,
        "LineItems": list(lines),
        **fields,
    }


@pytest.fixture
def make_invoice(org_a, contact_id):
    def make(*lines, status="AUTHORISED", org=None, **fields) -> dict:
        target = org or org_a
        response = target.put("Invoices", {"Invoices": [invoice_body(contact_id, *lines, status=status, **fields)]})
        assert response.status_code == 200, response.text
        return response.json()["Invoices"][0]

    return make
