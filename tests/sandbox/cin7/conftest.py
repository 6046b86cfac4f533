import json

import pytest
from django.conf import settings

from sandbox.cin7.services import account_ensure
from sandbox.transport import sandbox_client

PAYLOADS = settings.SHARED_DIR / "research" / "payloads"
BASE = "/sandbox/cin7/ExternalApi/v2/"


@pytest.fixture
def lists_payload():
    return json.loads((PAYLOADS / "cin7_core_lists.json").read_text())


@pytest.fixture
def account_a(db):
    return account_ensure(name="Cin7 A")


@pytest.fixture
def account_b(db):
    return account_ensure(name="Cin7 B")


def auth(account):
    return {"api-auth-accountid": account.account_id, "api-auth-applicationkey": account.application_key}


@pytest.fixture
def client_a(account_a):
    with sandbox_client(base_url="http://testserver" + BASE, headers=auth(account_a)) as client:
        yield client


@pytest.fixture
def client_b(account_b):
    with sandbox_client(base_url="http://testserver" + BASE, headers=auth(account_b)) as client:
        yield client


@pytest.fixture
def anonymous():
    with sandbox_client(base_url="http://testserver" + BASE) as client:
        yield client
