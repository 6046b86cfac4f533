"""connection_test for the providers that have nothing to call, or nothing to call with."""

from connections.checks import CheckResult, connection_test
from tenants.scoping import tenant_scope
from tests.factories import ConnectionFactory


def test_a_partner_connection_has_nothing_to_test(world, connect):
    connection = connect(world.tenant_a1, "rest")
    with tenant_scope(world.tenant_a1):
        result = connection_test(connection=connection)
    assert result.ok and "nothing to call" in result.message


def test_xero_is_checked_by_reading_its_organisation(world):
    from sandbox.transport import SandboxTransport
    from tests.sandbox_world import xero_connection_for

    with tenant_scope(world.tenant_b1):
        connection, org = xero_connection_for(world.tenant_b1, name="Check Me Ltd", country="GB")
        result = connection_test(connection=connection, transport=SandboxTransport())
    assert result.ok and "Check Me Ltd" in result.message
    with tenant_scope(world.tenant_a1):
        broken, _ = xero_connection_for(world.tenant_a1, name="Broken Ltd", country="AU")
        from connections.services import connection_set_credentials

        connection_set_credentials(connection=broken, credentials={"access_token": "nope", "refresh_token": "nope"})
        result = connection_test(connection=broken, transport=SandboxTransport())
    assert not result.ok and "nope" not in result.message


def test_a_source_without_credentials_asks_for_them_without_calling_out(world):
    connection = ConnectionFactory(tenant=world.tenant_a2, provider="magento", credentials={})
    with tenant_scope(world.tenant_a2):
        result = connection_test(connection=connection)
        connection.refresh_from_db()
    assert result == CheckResult(False, "This connection has no credentials yet: enter them first.")
    assert connection.last_activity_at is None
