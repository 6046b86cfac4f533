"""The sync tables' JSON columns compress with lz4 rather than PostgreSQL's default pglz.

Every inbound event, job record, payload and audit entry is a few kilobytes of JSON, written once and read back by
the next step: compressing it is a large part of the database's work per order (pglz takes about three times lz4's
time here) and lz4 stores it as small. Only values written from now on change; on other databases nothing does.
"""

from django.db import migrations

COLUMNS = {
    "sync_inboundevent": ("body",),
    "sync_syncjob": ("record", "payload", "response"),
    "sync_auditentry": ("request", "response"),
}


def _set(method):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for table, columns in COLUMNS.items():
            for column in columns:
                schema_editor.execute(f'ALTER TABLE "{table}" ALTER COLUMN "{column}" SET COMPRESSION {method}')

    return run


class Migration(migrations.Migration):
    dependencies = [("sync", "0014_syncjob_partial_indexes")]

    operations = [migrations.RunPython(_set("lz4"), _set("pglz"))]
