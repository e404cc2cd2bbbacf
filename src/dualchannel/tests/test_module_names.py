"""An app's API and page modules are found by one name (issue 10, point 5; docs/conventions.md):
``api.py`` and ``views.py``, and a sub-domain split off beside them is ``<sub>_api.py`` /
``<sub>_views.py`` (``counter_api.py``, ``reveal_views.py``), next to the sub-domain's own
module (``counter.py``)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]  # src/dualchannel
KINDS = {"api", "views"}


def misnamed(stem: str) -> bool:
    """An API or page module whose name is neither ``<kind>`` nor ``<sub>_<kind>``."""
    words = stem.split("_")
    if not {"api", "apis", "view", "views"} & set(words):
        return False
    if stem in KINDS:
        return False
    return words[-1] not in KINDS or bool(KINDS & set(words[:-1]))


def test_api_and_view_modules_are_named_kind_or_sub_kind():
    wrong = sorted(
        path.relative_to(ROOT).as_posix()
        for path in ROOT.rglob("*.py")
        if not {"tests", "migrations"} & set(path.parts) and misnamed(path.stem)
    )

    assert wrong == [], "name them <sub>_api.py / <sub>_views.py (docs/conventions.md)"


def test_the_rule_tells_the_patterns_apart():
    good = ["api", "views", "counter_api", "reveal_views", "public_api", "otp_views", "apps"]
    bad = ["api_counter", "views_reveal", "counter_view", "api_views", "reveal_apis"]

    assert [stem for stem in good + bad if misnamed(stem)] == bad
