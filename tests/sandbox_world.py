"""Product-side test helpers that connect tenants to sandbox accounts, reached in process over HTTP."""

from connections.models import Connection
from connections.providers.xero.client import XeroClient
from connections.services import connection_create
from sandbox.transport import SandboxTransport
from sandbox.xero.services.orgs import organisation_create

SANDBOX_XERO_API = "http://testserver/sandbox/xero/api.xro/2.0"


def xero_connection_for(tenant, *, name: str, country: str = "AU") -> tuple[Connection, dict]:
    """A sandbox Xero organisation (chart of accounts, the country's tax rates, tracking) connected to `tenant`.

    Tokens are issued directly by the simulator, standing in for the OAuth redirect flow.
    """
    org = organisation_create(name=name, country=country)
    connection = connection_create(
        tenant=tenant,
        provider_id="xero",
        display_name=name,
        credentials={"access_token": org["access_token"], "refresh_token": org["refresh_token"]},
    )
    Connection.objects.filter(pk=connection.pk).update(
        external_account_id=org["tenant_id"], base_url=SANDBOX_XERO_API, status=Connection.Status.ACTIVE
    )
    connection.refresh_from_db()
    return connection, org


def xero_client(connection: Connection, **kwargs) -> XeroClient:
    """A client for the connection whose requests go into the sandbox in process."""
    return XeroClient(connection=connection, transport=SandboxTransport(), **kwargs)


def magento_connection_for(tenant, store: dict, *, token=None, store_code=None, store_url=None) -> Connection:
    """A Magento connection of `tenant` to a sandbox store (as returned by sandbox.magento.services.store_create)."""
    from tenants.scoping import tenant_scope

    with tenant_scope(tenant):
        return connection_create(
            tenant=tenant,
            provider_id="magento",
            display_name=f"Shop {store['store_code']}",
            credentials={"access_token": token or store["access_token"]},
            account={
                "store_url": store_url or "http://testserver/sandbox/magento",
                "store_code": store_code or store["store_code"],
            },
        )
