"""Test connection": one cheap authenticated call per source, answered in words a person can act on.

Each source adapter knows its own failure modes (a refused token, a host that does not answer, a URL that is not
the system it claims to be, a wrong store code …) and turns them into a `CheckResult`. Messages name hosts, store
codes and domains, never a credential.
"""

from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    message: str


def host_of(url: str) -> str:
    """The host (and port) of a URL, for messages: enough to recognise, nothing secret."""
    return urlsplit(url).netloc or url


def unreachable(exc, host: str, name: str) -> CheckResult:
    """The words for a RetryableError from a check: no answer, too slow, or the remote's own trouble."""
    if exc.code == "provider_unreachable":
        return CheckResult(False, f"Could not reach {host}: check the address and that the server is online.")
    if exc.code == "provider_timeout":
        return CheckResult(False, f"{host} did not answer in time: try again, or check that the server is online.")
    status = exc.extra.get("status")
    return CheckResult(False, f"{name} at {host} answered with an error ({status}): try again in a few minutes.")


def connection_test(*, connection, transport=None) -> CheckResult:
    """Make one cheap authenticated call to the connection's system and say, plainly, whether it works.

    On success the connection's activity clock restarts (connection_record_activity). Nothing else changes: a
    failed test does not mark the connection as needing re-authorisation, because the person testing is usually
    in the middle of fixing exactly that. Xero is checked by reading its organisation (refreshing the token).
    """
    from connections.services import connection_record_activity
    from connections.sources import source_adapter

    if connection.provider == "rest":
        return CheckResult(
            ok=True, message="The partner system pushes to Ledgerbridge's API: there is nothing to call."
        )
    if connection.provider == "xero":
        from connections.providers.xero.check import xero_connection_test

        return xero_connection_test(connection=connection, transport=transport)
    if not connection.has_credentials:
        return CheckResult(ok=False, message="This connection has no credentials yet: enter them first.")
    # One attempt: a person is waiting for the answer, and a retry would only delay the same one.
    adapter = source_adapter(connection, transport=transport, max_attempts=1)
    try:
        result = adapter.test()
    finally:
        adapter.close()
    if result.ok:
        connection_record_activity(connection=connection)
    return result
