import json

import httpx
import pytest
from django.conf import settings

from sandbox.gorgias.services import account_ensure
from sandbox.transport import sandbox_client

PAYLOADS = settings.SHARED_DIR / "research" / "payloads"


@pytest.fixture
def customer_payload():
    return json.loads((PAYLOADS / "gorgias_customer.json").read_text())


@pytest.fixture
def helpdesk_a(db):
    return account_ensure(domain="shop-a")


@pytest.fixture
def helpdesk_b(db):
    return account_ensure(domain="shop-b")


def client_for(account, email=None, key=None):
    base = f"http://testserver/sandbox/gorgias/{account.domain}/api/"
    return sandbox_client(base_url=base, auth=httpx.BasicAuth(email or account.email, key or account.api_key))


@pytest.fixture
def client_a(helpdesk_a):
    with client_for(helpdesk_a) as client:
        yield client


@pytest.fixture
def client_b(helpdesk_b):
    with client_for(helpdesk_b) as client:
        yield client
