"""connection_test for the providers that have nothing to call, or nothing to call with."""

import pytest

from connections.checks import CheckResult, connection_test
from core.errors import ApplicationError
from tenants.scoping import tenant_scope
from tests.factories import ConnectionFactory


def test_a_partner_connection_has_nothing_to_test(world, connect):
    connection = connect(world.tenant_a1, "rest")
    with tenant_scope(world.tenant_a1):
        result = connection_test(connection=connection)
    assert result.ok and "nothing to call" in result.message


def test_xero_is_checked_by_reconnecting(world):
    connection = ConnectionFactory(tenant=world.tenant_b1, provider="xero")
    with tenant_scope(world.tenant_b1), pytest.raises(ApplicationError) as caught:
        connection_test(connection=connection)
    assert caught.value.code == "not_supported"


def test_a_source_without_credentials_asks_for_them_without_calling_out(world):
    connection = ConnectionFactory(tenant=world.tenant_a2, provider="magento", credentials={})
    with tenant_scope(world.tenant_a2):
        result = connection_test(connection=connection)
        connection.refresh_from_db()
    assert result == CheckResult(False, "This connection has no credentials yet: enter them first.")
    assert connection.last_activity_at is None
