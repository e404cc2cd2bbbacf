import pytest

from .factories import build_world


@pytest.fixture
def sd_world(db):
    return build_world()
