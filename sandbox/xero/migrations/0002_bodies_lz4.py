"""The simulated Xero's stored answers compress with lz4 rather than PostgreSQL's default pglz.

Every write with an Idempotency-Key keeps its whole answer (a batch of 50 invoices answers about 100 kB), and a
webhook delivery its events and body: pglz took about three times lz4's time to compress them, for the same size.
Only values written from now on change; on other databases nothing does.
"""

from django.db import migrations

COLUMNS = {
    "sandbox_xero_idempotentresponse": ("body",),
    "sandbox_xero_webhookdelivery": ("events", "body"),
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
    dependencies = [("sandbox_xero", "0001_initial")]

    operations = [migrations.RunPython(_set("lz4"), _set("pglz"))]
