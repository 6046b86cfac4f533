"""The sync tables are analysed from a sample of 3,000 rows rather than 30,000 (SET STATISTICS 10 on every column
that still gathers statistics).

ANALYZE samples 300 rows per unit of the largest statistics target among a table's columns. At the default (100)
that is 30,000 rows: every row of a 26,000-job sync_syncjob, whose rows carry their records and payloads inline
(52 MB), read in full each time processing or the drain finds the table stale (core.statistics). That was 0.32 s
of the server for each analysis of sync_syncjob, and 2.4 s in all while a 5,000-order backlog staged and drained:
a fifth of the database's time in bench_sync. At 10 the same analysis takes 35 ms. What the plans rely on holds
at that size: a tenant's, a state's or an entity's share of the rows (a handful of common values), and how many
distinct records or keys there are (estimated from the sample). On other databases nothing changes.
"""

from django.db import migrations

TABLES = ("sync_syncjob", "sync_inboundevent", "sync_crossreference", "sync_auditentry")
# 300 sampled rows per unit (PostgreSQL's std_typanalyze).
SAMPLED = 10


def _set(current: str, target: int):
    """Set the statistics target of each column of TABLES whose target is `current` ("default" or "sampled") to
    `target` (-1: the server's default_statistics_target). Columns left out of ANALYZE (0) stay so."""

    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        with schema_editor.connection.cursor() as cursor:
            for table in TABLES:
                # The default is -1 up to PostgreSQL 16 and NULL from 17.
                cursor.execute(
                    "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0"
                    " AND NOT attisdropped AND COALESCE(attstattarget, -1) = %s ORDER BY attnum",
                    [table, -1 if current == "default" else SAMPLED],
                )
                for (column,) in cursor.fetchall():
                    schema_editor.execute(f'ALTER TABLE "{table}" ALTER COLUMN "{column}" SET STATISTICS {target}')

    return run


class Migration(migrations.Migration):
    dependencies = [("sync", "0020_syncjob_columns_no_statistics")]

    operations = [migrations.RunPython(_set("default", SAMPLED), _set("sampled", -1))]
