"""An inbound event's body is stored as json rather than jsonb (core.fields.JSONTextField).

It is written once and read back whole: jsonb's parsing on the way in and printing on the way out were most of the
database's work for the inbox. Stored bodies keep their text (jsonb's printed form) either way. Changing the
column's type resets its compression to the server's default, so lz4 (0015) is set again, after the change in
either direction.
"""

from django.db import migrations

import core.fields


def _lz4(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute('ALTER TABLE "sync_inboundevent" ALTER COLUMN "body" SET COMPRESSION lz4')


class Migration(migrations.Migration):
    dependencies = [("sync", "0018_syncjob_dependency_index")]

    operations = [
        # Backwards, this runs last: after the column is jsonb again.
        migrations.RunPython(migrations.RunPython.noop, _lz4),
        migrations.AlterField(
            model_name="inboundevent",
            name="body",
            field=core.fields.JSONTextField(blank=True, null=True),
        ),
        migrations.RunPython(_lz4, migrations.RunPython.noop),
    ]
