import uuid

import pytest

from tests.factories import ConnectionFactory
from tests.sync.webhook_helpers import TEST_XERO_KEY


@pytest.fixture
def xero_pair(world, settings):
    """A Xero connection in one agency's tenant and another in the other agency's, each its own organisation, with
    the app's webhook key set (a test module with fixed organisations defines its own)."""
    settings.XERO_WEBHOOK_KEY = TEST_XERO_KEY
    mine = ConnectionFactory(
        tenant=world.tenant_a1, provider="xero", external_account_id=str(uuid.uuid4()), credentials={}
    )
    other = ConnectionFactory(
        tenant=world.tenant_b1, provider="xero", external_account_id=str(uuid.uuid4()), credentials={}
    )
    return mine, other
