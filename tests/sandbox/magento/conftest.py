import json
from pathlib import Path

import pytest
from django.conf import settings

from sandbox.magento.loader import load_records
from sandbox.magento.services import store_create
from sandbox.transport import sandbox_client

PAYLOADS = settings.SHARED_DIR / "research" / "payloads"
LOCAL_PAYLOADS = Path(__file__).parent / "payloads"


def payload(name: str) -> dict:
    """A documented example payload (the shared research copy, or the one kept next to these tests)."""
    path = PAYLOADS / name if (PAYLOADS / name).exists() else LOCAL_PAYLOADS / name
    return json.loads(path.read_text())


class Store:
    def __init__(self, credentials: dict):
        self.credentials = credentials
        self.code = credentials["store_code"]
        self.token = credentials["access_token"]
        self.base = credentials["base_path"] + "V1/"
        self.client = sandbox_client(headers={"Authorization": f"Bearer {self.token}"})

    def get(self, path: str, **params):
        return self.client.get(self.base + path, params=params)

    def post(self, path: str, body=None):
        return self.client.post(self.base + path, json=body if body is not None else {})

    def put(self, path: str, body):
        return self.client.put(self.base + path, json=body)

    def search(self, path: str, *pairs, **params):
        query = list(pairs) + list(params.items())
        return self.client.get(self.base + path, params=query)


@pytest.fixture
def stores(db):
    """Two stores: A tax-exclusive in USD with the documented order and customer, B tax-inclusive in AUD."""
    a = Store(store_create(code="store-a", currency="USD"))
    b = Store(store_create(code="store-b", currency="AUD", tax_inclusive=True))
    load_records(account="store-a", data=payload("magento_order.json"))
    load_records(account="store-a", data=payload("magento_customer.json"))
    return a, b
