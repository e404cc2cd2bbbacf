"""The table of the shared cache (settings.CACHES["shared"], a DatabaseCache) that counts the
public complaint posts per address across workers: made here so that `migrate` is the only
step a deployment runs (createcachetable skips a table that exists and any non-database cache)."""

from django.core.management import call_command
from django.db import migrations


def create_cache_table(apps, schema_editor):
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):
    dependencies = [("complaints", "0001_initial")]

    operations = [migrations.RunPython(create_cache_table, migrations.RunPython.noop)]
