"""core.prepared: the hot statement runs prepared, and nothing else makes the connection keep statement texts."""

import pytest
from django.db import connection

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
