"""prepared_fetchone, prepared_fetchall: a hot statement run as a PostgreSQL prepared statement, for paths that run
it thousands of times a second (the webhook inbox).

Django's PostgreSQL backend binds parameters on the client (psycopg's ClientCursor) and never prepares, so the
server parses and plans every statement anew. For a statement with several CTEs the planning costs more than the
execution. Here the statement goes through a server-binding psycopg cursor with prepare=True: each database
connection (kept open by CONN_MAX_AGE) plans it once. The cursor is still wrapped by Django, so its queries are
logged and captured like any other (django_assert_num_queries), errors come out as django.db errors, and a kept
connection is health-checked first as settings.CONN_HEALTH_CHECKS asks, without a round trip (connection_check_local).

Server binding sends each parameter typed: a text parameter PostgreSQL cannot infer needs a cast in the SQL
(`%s::jsonb`). A pooler in transaction mode (pgbouncer) would need max_prepared_statements; none is used here.
"""

import select
from contextlib import contextmanager

import psycopg
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.utils import CursorDebugWrapper, CursorWrapper
from psycopg import pq


class _PreparingCursor(psycopg.Cursor):
    """A server-binding cursor that prepares what it runs (Django's wrapper calls execute(sql, params))."""

    def execute(self, query, params=None, *, prepare=None, binary=None):
        return super().execute(query, params, prepare=True, binary=binary)


class _LoggedCursor(CursorDebugWrapper):
    """Logs a prepared statement with its parameters merged in: psycopg keeps no text of a prepared run, which is
    where Django's wrapper would look for it."""

    @contextmanager
    def debug_sql(self, sql=None, params=None, use_last_executed_query=False, many=False):
        with super().debug_sql(self.db.ops.compose_sql(sql, params), None, many=many):
            yield


# psycopg prepares only while a connection's prepare_threshold is set, and while it is set it remembers the text of
# every statement run (up to prepared_max of them) to count executions. Django's statements carry their parameters
# in the text (client-side binding): a poll's 1 MB inbox inserts would stay in memory. So the threshold is set only
# for the prepared statement itself, never reached by counting, and put back to None (Django's default) after.
_PREPARE_WHEN_ASKED = 2**31 - 1


def connection_check_local() -> None:
    """CONN_HEALTH_CHECKS for the hot path, without Django's `SELECT 1` round trip: close the kept connection if the
    server has hung up on it, so the next statement reconnects.

    An idle connection has nothing to read unless the server closed it (a restart, an idle timeout,
    pg_terminate_backend): then its socket is readable, with the server's FATAL message or end of file. The `SELECT 1`
    catches nothing more (a peer gone without a word makes it wait as long as any statement would), and it cost a
    third of the database's work per webhook delivery. A readable socket for another reason only costs a reconnect.
    Like Django's check, it runs once per request (close_old_connections re-arms it) and only between transactions.
    """
    _check_locally(connections[DEFAULT_DB_ALIAS])


def _check_locally(db) -> None:
    if db.connection is None or not db.health_check_enabled or db.health_check_done or db.in_atomic_block:
        return
    try:
        readable, _, _ = select.select([db.connection.pgconn.socket], [], [], 0)
    except (OSError, ValueError, psycopg.OperationalError):  # no socket any more: closed under us
        readable = True
    if readable:
        db.close()
    db.health_check_done = True


def prepared_fetchone(sql: str, params: list) -> tuple | None:
    """Run `sql` (PostgreSQL only) as a prepared statement of the current connection; return its first row (None
    when it returns none)."""
    return _prepared_run(sql, params, lambda cursor: cursor.fetchone())


def prepared_fetchall(sql: str, params: list) -> list[tuple]:
    """Run `sql` (PostgreSQL only) as a prepared statement of the current connection; return all its rows."""
    return _prepared_run(sql, params, lambda cursor: cursor.fetchall()) or []


def _prepared_run(sql: str, params: list, fetch):
    # The thread's connection itself, not the `django.db.connection` proxy: each attribute read through the proxy
    # looks the connection up again.
    db = connections[DEFAULT_DB_ALIAS]
    # What db.cursor() does before it hands out a cursor (reconnect a connection that failed its health check), but
    # checked locally.
    _check_locally(db)
    db.ensure_connection()
    connection = db.connection
    raw = _PreparingCursor(connection)
    wrapper = _LoggedCursor if db.queries_logged else CursorWrapper
    connection.prepare_threshold = _PREPARE_WHEN_ASKED
    try:
        with wrapper(raw, db) as cursor:
            cursor.execute(sql, params)
            result = raw.pgresult
            return fetch(cursor) if result is not None and result.status == pq.ExecStatus.TUPLES_OK else None
    finally:
        connection.prepare_threshold = None
