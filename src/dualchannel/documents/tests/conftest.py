from __future__ import annotations

import pytest

from dualchannel.documents.tests.factories import physician_for


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    """PDFs go to a temporary MEDIA_ROOT, never into the repository."""
    settings.MEDIA_ROOT = tmp_path / "private"
    settings.PUBLIC_BASE_URL = "https://dc.example.cn"
    return settings.MEDIA_ROOT


@pytest.fixture
def physician(physician_user):
    return physician_for(physician_user)
