"""Values read from a few tables' rows, kept by the process while the database holds exactly those rows.

Reading a tenant's mappings or an organisation's reference data costs several queries and a model instance per
row, and hot paths (a drain batch, a simulated Xero request) read them every time. Here they ask PostgreSQL for a
digest of the rows instead: one statement over the text of every column of every row, so any change by any
process, committed or made earlier in the caller's transaction, changes it. They read again only when it differs
from the one they were read with. Nothing may write through kept values: callers share them. On other databases
there is no digest and every call reads.
"""

import threading
from collections import OrderedDict
from collections.abc import Callable

from django.db import connection


class KeptReads:
    """Values kept per key (a tenant, an organisation) while the digest of their rows is unchanged.

    `sources()` gives SQL FROM clauses, one per table, each naming the table's row `r` and filtering it with one
    `%s` (the key, or what `get` is given as `rows`): e.g. `FROM "mappings_taxmapping" r WHERE r.tenant_id = %s`.
    Only names from model metadata belong in them; the key is always a parameter.
    """

    def __init__(self, sources: Callable[[], list[str]], *, keep: int = 64):
        self._sources = sources
        self._sql: str | None = None
        self._params = 0  # how many sources, each taking the key once
        self._keep = keep
        self._lock = threading.Lock()
        self._kept: OrderedDict = OrderedDict()

    def get(self, key, read: Callable, *, rows=None):
        """The value read(), kept under `key` as long as the rows the sources select for `rows` (default: `key`)
        are those it was read from."""
        if connection.vendor != "postgresql":
            return read()
        digest = self._digest(key if rows is None else rows)
        with self._lock:
            kept = self._kept.get(key)
            if kept is not None and kept[0] == digest:
                self._kept.move_to_end(key)
                return kept[1]
        # Read after the digest: a change committed in between makes the next call read again, never keeps a
        # stale value (the digest kept is the older one).
        value = read()
        with self._lock:
            self._kept[key] = (digest, value)
            self._kept.move_to_end(key)
            while len(self._kept) > self._keep:
                self._kept.popitem(last=False)
        return value

    def _digest(self, rows) -> str:
        if self._sql is None:
            sources = self._sources()
            # coalesce: an empty table keeps its place, so rows cannot seem to move from one table to the next.
            parts = ", ".join(
                f"coalesce((SELECT string_agg(r::text, ',' ORDER BY r.id) {source}), '')" for source in sources
            )
            self._sql = f"SELECT md5(concat_ws('|', {parts}))"
            self._params = len(sources)
        with connection.cursor() as cursor:
            cursor.execute(self._sql, [rows] * self._params)
            return cursor.fetchone()[0]
