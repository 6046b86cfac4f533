import json
from pathlib import Path

import httpx
import pytest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections

from sandbox.gorgias.services import account_ensure
from sandbox.transport import sandbox_client

PAYLOADS = Path("/work/shared/research/payloads")


@pytest.fixture(autouse=True)
def keep_test_connection():
    """Requests through the WSGI transport must not close the test's connection (Django's test Client does this too)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


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
