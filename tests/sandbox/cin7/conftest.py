import json
from pathlib import Path

import pytest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections

from sandbox.cin7.services import account_ensure
from sandbox.transport import sandbox_client

PAYLOADS = Path("/work/shared/research/payloads")
BASE = "/sandbox/cin7/ExternalApi/v2/"


@pytest.fixture(autouse=True)
def keep_test_connection():
    """Requests through the WSGI transport must not close the test's connection (Django's test Client does this too).

    Django closes "old" connections at the start and end of every request; inside a test transaction that would
    close the connection holding the test's data.
    """
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


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
