"""ICD-10 医保版2.0 diagnosis names by code (shipped subset, see data/icd10_yb2/PROVENANCE.md)."""

from __future__ import annotations

import csv
from functools import cache
from pathlib import Path

ICD10_FILE = Path(__file__).parent / "data" / "icd10_yb2" / "icd10_yb2_diagnoses_from_chs_drg.csv"


@cache
def _diagnoses() -> dict[str, str]:
    with ICD10_FILE.open(encoding="utf-8", newline="") as handle:
        return {row["code"]: row["name"] for row in csv.DictReader(handle)}


def diagnosis_name(code: str) -> str | None:
    """The 医保版2.0 name of a diagnosis code, or None when the shipped list does not have it."""
    return _diagnoses().get(code.strip())


def diagnoses_starting_with(prefix: str, limit: int = 20) -> list[tuple[str, str]]:
    """Codes under a prefix (e.g. ``C34``), for pickers and for checking criteria prefixes."""
    prefix = prefix.strip().upper()
    return sorted((c, n) for c, n in _diagnoses().items() if c.startswith(prefix))[:limit]


@cache
def _categories() -> frozenset[str]:
    return frozenset(code[:3] for code in _diagnoses())


def category_known(code: str) -> bool:
    """Whether the three-character category of ``code`` (e.g. ``C34``) is in the shipped list.

    The shipped list is a subset of 医保版2.0, so a missing full code proves nothing; a missing
    category does: no such chapter entry exists.
    """
    return code.strip().upper()[:3] in _categories()
