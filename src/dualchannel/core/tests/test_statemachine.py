import pytest
from django.db import models

from dualchannel.core.errors import Conflict
from dualchannel.core.statemachine import StateMachine


class Light(models.TextChoices):
    RED = "red", "红"
    GREEN = "green", "绿"
    YELLOW = "yellow", "黄"


MACHINE = StateMachine(
    Light, {"red": {"green"}, "green": {"yellow"}, "yellow": {"red"}}, error_code="light.illegal"
)


def test_allowed_edge_passes():
    MACHINE.check("red", "green")


def test_illegal_edge_names_both_states_in_chinese():
    with pytest.raises(Conflict) as caught:
        MACHINE.check("red", "yellow")

    assert caught.value.code == "light.illegal"
    assert caught.value.message == "不允许从「红」变更为「黄」"
    assert caught.value.status == 409


def test_table_with_unknown_status_is_rejected_at_definition():
    with pytest.raises(ValueError):
        StateMachine(Light, {"red": {"blue"}}, error_code="x")
