"""Inbound events, cross-references and audit entries lose their index on the tenant alone.

Every other index of these tables leads with the tenant, so a query by tenant alone is served all the same. The
tenant index was only written to, and worse: with statistics that took a new tenant for a few rows, the planner
read a job's cross-reference through it (every cross-reference of the tenant, filtered) rather than through the
unique key, and inbound events by id through it rather than through the primary key.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('sync', '0015_json_columns_lz4'),
        ('tenants', '0001_initial'),
    ]

    operations = [
        migrations.AlterField(
            model_name='auditentry',
            name='tenant',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='tenants.tenant'),
        ),
        migrations.AlterField(
            model_name='crossreference',
            name='tenant',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='tenants.tenant'),
        ),
        migrations.AlterField(
            model_name='inboundevent',
            name='tenant',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='tenants.tenant'),
        ),
    ]
