"""Planner statistics kept fresh after bulk work, as PostgreSQL's documentation advises after a large load.

A tenant that starts syncing stages thousands of jobs in a minute. Until the table is analysed again the planner
takes that tenant for a few rows, and every `tenant_id = … AND id IN (…)` statement scans all of its jobs through a
tenant index instead of probing the primary key: the drain's database time per batch grew with the backlog.
Autovacuum analyses a table only once a tenth of it has changed, at most once a minute, and not at all when it is
switched off; a burst of staging is over by then. So the services that load in bulk ask for fresh statistics when
a table has grown (or shrunk) by more than STALE_SHARE since its last analysis (one catalog read; an ANALYZE only
then). Rows rewritten in place do not count: a job moving from pending to done three times over changes no size
the planner relies on, and counting those updates analysed sync_syncjob twice as often while its jobs drained.

These analyses sample SAMPLE_TARGET x 300 rows, not the server's default of 30,000: they run in the worker that
loaded the rows, which waits for them, and at the default each one read every row of a 26,000-job sync_syncjob with
its inline records (0.32 s; 2.4 s of the server while a 5,000-order backlog staged and drained, a fifth of its
time). From 3,000 rows the analysis takes 35 ms, and what the plans rely on holds: a tenant's, a state's or an
entity's share of the rows and how many distinct records there are. Autovacuum's own analyses keep the default.
"""

import time

from django.db import connections, router

# Analyse once the table has this many rows, plus this share of it, more (or fewer) than at the last analysis: often
# enough that a table growing from nothing is analysed every fifth of its growth (eight times on the way to 10,000
# rows), rarely enough that the analyses cost a few per cent of what they save.
STALE_ROWS = 1000
STALE_SHARE = 0.2
# Looked at no more often than this, per process and set of tables: the look itself reads the statistics views.
CHECK_INTERVAL = 2.0
# default_statistics_target for these analyses (columns set to 0 stay out of them): 300 rows sampled per unit.
SAMPLE_TARGET = 10
_checked: dict[tuple[str, ...], float] = {}


def statistics_refresh_if_stale(*models) -> list[str]:
    """ANALYZE the tables of `models` whose statistics are stale; returns the tables analysed.

    PostgreSQL only, and only outside a transaction: ANALYZE holds a lock against other analyses of the table
    until the transaction ends, so it is not run in the middle of one.
    """
    if not models:
        return []
    using = router.db_for_write(models[0])
    connection = connections[using]
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return []
    tables = [model._meta.db_table for model in models]
    now = time.monotonic()
    if now - _checked.get((using, *tables), -CHECK_INTERVAL) < CHECK_INTERVAL:
        return []
    _checked[(using, *tables)] = now
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT s.relname FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid"
            " WHERE s.relname = ANY(%s) AND s.schemaname = current_schema()"
            " AND abs(s.n_live_tup - GREATEST(c.reltuples, 0)) > %s + %s * GREATEST(c.reltuples, 0)",
            [tables, STALE_ROWS, STALE_SHARE],
        )
        stale = sorted(row[0] for row in cursor.fetchall())
        if stale:
            cursor.execute(f"SET default_statistics_target = {SAMPLE_TARGET:d}")
            try:
                for table in stale:
                    cursor.execute(f"ANALYZE {connection.ops.quote_name(table)}")
            finally:
                cursor.execute("RESET default_statistics_target")
    return stale
