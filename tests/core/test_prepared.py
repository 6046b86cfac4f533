"""core.prepared: the hot statement runs prepared, and nothing else makes the connection keep statement texts; a
kept connection is health-checked without a round trip."""

import select
import time

import pytest
from django.db import connection, connections

from core.prepared import prepared_fetchone

pytestmark = pytest.mark.django_db


@pytest.fixture
def raw(is_postgres):
    if not is_postgres:
        pytest.skip("prepared statements are PostgreSQL's")
    connection.ensure_connection()
    return connection.connection


def _prepared_on_server() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return {row[0] for row in cursor.fetchall()}


def test_the_statement_is_prepared_once_per_connection_and_answers_each_time(raw):
    assert prepared_fetchone("SELECT %s::int + 1", [1]) == (2,)
    assert prepared_fetchone("SELECT %s::int + 1", [41]) == (42,)
    assert any("$1::int + 1" in text for text in _prepared_on_server())


def test_other_statements_are_neither_prepared_nor_remembered(raw):
    prepared_fetchone("SELECT %s::int + 1", [1])
    big = "x" * 500_000
    with connection.cursor() as cursor:
        for n in range(5):
            cursor.execute("SELECT length(%s) + %s", [big, n])  # Django binds on the client: the text holds it all
    assert raw.prepare_threshold is None  # Django's default: psycopg counts nothing
    assert not raw._prepared._counts  # no statement text kept to count its runs
    assert not any("length(" in text for text in _prepared_on_server())


@pytest.mark.django_db(transaction=True)  # between transactions, as a request's first statement runs
def test_a_kept_connection_is_checked_without_a_statement_and_replaced_once_the_server_hangs_up(
    is_postgres, monkeypatch
):
    if not is_postgres:
        pytest.skip("prepared statements are PostgreSQL's")
    wrapper = connections["default"]
    assert wrapper.health_check_enabled
    wrapper.close()  # a new connection, well within CONN_MAX_AGE, so only the health check could replace it
    backend = prepared_fetchone("SELECT pg_backend_pid()", [])[0]

    # A new request re-arms the check (close_old_connections); a healthy connection is kept, and Django's
    # `SELECT 1` is never sent.
    monkeypatch.setattr(wrapper, "is_usable", lambda: pytest.fail("the health check made a round trip"))
    wrapper.close_if_unusable_or_obsolete()
    assert prepared_fetchone("SELECT pg_backend_pid()", []) == (backend,)

    # The server ends that backend (a restart, an idle timeout): the next request's statement gets a new one
    # instead of failing.
    admin = wrapper.get_new_connection(wrapper.get_connection_params())
    try:
        admin.execute("SELECT pg_terminate_backend(%s)", [backend])
    finally:
        admin.close()
    deadline = time.monotonic() + 10
    while not select.select([wrapper.connection.pgconn.socket], [], [], 0.1)[0] and time.monotonic() < deadline:
        pass  # the server hangs up asynchronously
    wrapper.close_if_unusable_or_obsolete()
    (new_backend,) = prepared_fetchone("SELECT pg_backend_pid()", [])
    assert new_backend != backend
