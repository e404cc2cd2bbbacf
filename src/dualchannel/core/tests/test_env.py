"""Settings read from the environment fail loudly on a bad value."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from dualchannel.config.env import env_json_map


def test_json_map_reads_an_object_of_strings(monkeypatch):
    monkeypatch.setenv("DC_TEST_MAP", '{"eligibility.approved": "SMS_2950001"}')
    assert env_json_map("DC_TEST_MAP") == {"eligibility.approved": "SMS_2950001"}


def test_json_map_is_empty_when_unset(monkeypatch):
    monkeypatch.delenv("DC_TEST_MAP", raising=False)
    assert env_json_map("DC_TEST_MAP") == {}


@pytest.mark.parametrize("raw", ["not json", "[1, 2]", '{"a": 1}'])
def test_json_map_refuses_anything_else(monkeypatch, raw):
    monkeypatch.setenv("DC_TEST_MAP", raw)
    with pytest.raises(ImproperlyConfigured, match="DC_TEST_MAP"):
        env_json_map("DC_TEST_MAP")
