"""Migration 0004: a database built before the agent rule counted only unrelated patients gets
the rule's new name and article; the thresholds officers set stay."""

from __future__ import annotations

import importlib
import json

from django.apps import apps

from dualchannel.monitoring.models import MonitoringRule

migration = importlib.import_module("dualchannel.monitoring.migrations.0004_rule_words_from_file")


def test_the_national_rules_words_are_read_again_and_thresholds_kept(db):
    # given the agent rule as an older database has it, with a threshold an officer raised
    rule = MonitoringRule.objects.get(key="agent_many_patients", region=None)
    rule.name, rule.article, rule.params = (
        "同一代办人为多名参保人代购药品",
        "旧依据",
        {"min_patients": 9},
    )
    rule.save()

    # when the migration runs
    migration.refresh_words(apps, None)

    # then its words are the file's and its threshold the officer's
    rule.refresh_from_db()
    entry = next(
        e
        for e in json.loads(migration.RULES_FILE.read_text(encoding="utf-8"))["rules"]
        if e["key"] == "agent_many_patients"
    )
    assert rule.name == entry["name"] == "同一代办人为多名非近亲属参保人代购药品"
    assert rule.article == entry["article"] and "近亲属" in rule.article
    assert rule.params == {"min_patients": 9}
