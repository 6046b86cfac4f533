"""An audit entry's request and response are stored as json rather than jsonb (core.fields.JSONTextField).

The drain writes one entry for every record it sends, with the payload and Xero's answer for it (several
kilobytes for an invoice), and jsonb's parsing of both was most of the cost of storing them: COPY of 2,100 entries
took 60 ms into jsonb columns and 36 ms into json ones. Nothing searches inside them; the few reads by a path
(request__Status) cast to jsonb. Changing a column's type resets its compression to the server's default, so lz4
(0015) is set again, after the change in either direction.
"""

from django.db import migrations

import core.fields

COLUMNS = ("request", "response")


def _lz4(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for column in COLUMNS:
            schema_editor.execute(f'ALTER TABLE "sync_auditentry" ALTER COLUMN "{column}" SET COMPRESSION lz4')


class Migration(migrations.Migration):
    dependencies = [("sync", "0020_syncjob_columns_no_statistics")]

    operations = [
        # Backwards, this runs last: after the columns are jsonb again.
        migrations.RunPython(migrations.RunPython.noop, _lz4),
        *(
            migrations.AlterField(
                model_name="auditentry",
                name=column,
                field=core.fields.JSONTextField(blank=True, null=True),
            )
            for column in COLUMNS
        ),
        migrations.RunPython(_lz4, migrations.RunPython.noop),
    ]
