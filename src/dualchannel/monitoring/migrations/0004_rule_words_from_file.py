"""The national rules' names and articles read again from data/rules.json (the agent rule now
counts the patients an agent is no near relative of, and says so). The thresholds and the
switch stay as officers left them."""

import json
from pathlib import Path

from django.db import migrations

RULES_FILE = Path(__file__).resolve().parent.parent / "data" / "rules.json"


def refresh_words(apps, schema_editor):
    MonitoringRule = apps.get_model("monitoring", "MonitoringRule")
    with RULES_FILE.open(encoding="utf-8") as fh:
        entries = json.load(fh)["rules"]
    for entry in entries:
        MonitoringRule.objects.filter(key=entry["key"], region=None).update(
            name=entry["name"], article=entry["article"]
        )


class Migration(migrations.Migration):
    dependencies = [("monitoring", "0003_seed_rules")]

    operations = [migrations.RunPython(refresh_words, migrations.RunPython.noop)]
