"""Print the database URL for `make test` when DATABASE_URL is not set.

Local PostgreSQL (127.0.0.1:5432, user postgres) when it answers; otherwise SQLite, with a notice on stderr, in
which case tests marked `needs_postgres` are skipped. CI never gets here: .ci/run sets DATABASE_URL and fails if
PostgreSQL is down.
"""

import socket
import sys

POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/ledgerbridge"


def postgres_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            pass
    except OSError:
        return False
    try:
        import psycopg

        psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres", connect_timeout=2).close()
    except Exception:
        return False
    return True


if __name__ == "__main__":
    if postgres_reachable():
        print(POSTGRES_URL)
    else:
        print(
            "Notice: PostgreSQL is not reachable on 127.0.0.1:5432; testing on SQLite "
            "and skipping tests that need PostgreSQL.",
            file=sys.stderr,
        )
        print("sqlite:///test-db.sqlite3")
