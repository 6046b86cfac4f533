""" "Test connection" for Xero: one cheap authenticated call, answered in words a person can act on."""

from connections.checks import CheckResult
from connections.models import Connection
from connections.providers.xero.tokens import xero_client_for
from core.errors import ApplicationError, ProviderAuthError, RetryableError


def xero_connection_test(*, connection: Connection, transport=None) -> CheckResult:
    """Read the organisation through the connection (refreshing the token if due). Needs the tenant's scope.

    On success the connection's activity clock restarts. A refresh token Xero refuses marks the connection
    needs_reauth, as any other call would: the person testing then sees the "Reconnect Xero" button.
    """
    from connections.services import connection_record_activity

    if connection.status == Connection.Status.NEEDS_REAUTH:
        return CheckResult(False, "Xero no longer accepts the stored sign-in: use “Reconnect Xero”.")
    if connection.status == Connection.Status.DISCONNECTED:
        return CheckResult(False, "This connection is disconnected.")
    try:
        with xero_client_for(connection, transport=transport, max_attempts=1) as client:
            organisations = client.get("Organisation").json().get("Organisations") or [{}]
    except ProviderAuthError:
        return CheckResult(False, "Xero refused the stored sign-in: use “Reconnect Xero”.")
    except RetryableError:
        return CheckResult(False, "Xero did not answer: try again in a few minutes.")
    except ApplicationError as exc:
        return CheckResult(False, f"Xero refused the request: {exc.message}")
    organisation = organisations[0]
    connection_record_activity(connection=connection)
    name = organisation.get("Name") or connection.display_name
    return CheckResult(True, f"Connected to {name} ({organisation.get('BaseCurrency', '')}).")
