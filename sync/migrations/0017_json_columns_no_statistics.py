"""The sync tables' JSON columns are left out of ANALYZE (SET STATISTICS 0).

No query compares these columns whole, so the planner has no use for their statistics (a path into them, such as
record -> data -> order_source_id, is an expression the column's statistics say nothing about). Gathering them
read and decompressed every sampled document: a third of each ANALYZE of sync_syncjob, which the drain and the
inbox run several times while a tenant's backlog grows (core.statistics). On other databases nothing changes.
"""

from django.db import migrations

COLUMNS = {
    "sync_inboundevent": ("body",),
    "sync_syncjob": ("record", "payload", "response"),
    "sync_crossreference": ("synced_values",),
    "sync_auditentry": ("request", "response"),
}


def _set(target: int):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for table, columns in COLUMNS.items():
            for column in columns:
                schema_editor.execute(f'ALTER TABLE "{table}" ALTER COLUMN "{column}" SET STATISTICS {target}')

    return run


class Migration(migrations.Migration):
    dependencies = [("sync", "0016_tenant_indexes_dropped")]

    # -1: the server's default_statistics_target, as before.
    operations = [migrations.RunPython(_set(0), _set(-1))]
