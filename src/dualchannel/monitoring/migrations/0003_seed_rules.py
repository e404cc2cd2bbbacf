"""The national defaults of the smart-monitoring rules, from data/rules.json."""

import json
from pathlib import Path

from django.db import migrations

RULES_FILE = Path(__file__).resolve().parent.parent / "data" / "rules.json"


def seed(apps, schema_editor):
    MonitoringRule = apps.get_model("monitoring", "MonitoringRule")
    with RULES_FILE.open(encoding="utf-8") as fh:
        entries = json.load(fh)["rules"]
    for entry in entries:
        MonitoringRule.objects.update_or_create(
            key=entry["key"],
            region=None,
            defaults={
                "name": entry["name"],
                "article": entry["article"],
                "severity": entry["severity"],
                "params": entry["params"],
                "enabled": True,
            },
        )


def unseed(apps, schema_editor):
    apps.get_model("monitoring", "MonitoringRule").objects.filter(region=None).delete()


class Migration(migrations.Migration):
    dependencies = [("monitoring", "0002_rules")]

    operations = [migrations.RunPython(seed, unseed)]
