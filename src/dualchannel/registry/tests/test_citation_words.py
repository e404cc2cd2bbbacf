"""A profile's citations on a page are in the document's words, never the project's short forms
(issue 12: no internal codes on pages)."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest
from django.utils import timezone

from dualchannel.registry.citation_words import citation_in_words, citations_in_words
from dualchannel.registry.designations import institution_shortfalls
from dualchannel.registry.models import DesignationTransition, InstitutionKind, PolicyProfile
from dualchannel.registry.profiles import PROFILES_FILE
from dualchannel.registry.tests.factories import InstitutionFactory, designate, load_seed_profiles

CASES = [
    ("HB art. 40：直接结算", "鄂医保发〔2023〕35号 第四十条：直接结算"),
    ("HB art. 13–15、42：医保医师", "鄂医保发〔2023〕35号 第十三至十五条、第四十二条：医保医师"),
    ("HB art. 18(5)、19(3)", "鄂医保发〔2023〕35号 第十八条第（五）项、第十九条第（三）项"),
    ("AH §2(2)、§2(5)", "皖医保秘〔2021〕58号 第二部分第（二）项、第二部分第（五）项"),
    ("HB art. 7(1)(3)", "鄂医保发〔2023〕35号 第七条第（一）项、第（三）项"),
    ("CX art. 14(2)：挂网价", "楚医保规〔2022〕4号 第十四条第（二）项：挂网价"),
    ("HB art. 21–22：两年", "鄂医保发〔2023〕35号 第二十一至二十二条：两年"),
    # already in words: unchanged
    ("鄂医保发〔2023〕35号 第十二条（伪造）", "鄂医保发〔2023〕35号 第十二条（伪造）"),
    ("", ""),
]


@pytest.mark.parametrize(("short", "words"), CASES)
def test_a_short_form_is_written_out(short, words):
    assert citation_in_words(short) == words


def test_no_citation_of_the_shipped_profiles_keeps_a_short_form():
    profiles = json.loads(PROFILES_FILE.read_text(encoding="utf-8"))
    for profile in profiles["profiles"]:
        for key, text in citations_in_words(profile.get("citations")).items():
            for short in ("HB art", "AH §", "CX art", "SD §"):
                assert short not in text, (key, text)


PACKAGE = Path(__file__).resolve().parents[2]  # src/dualchannel: every app
CJK = re.compile(r"[\u4e00-\u9fff]")


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        first = body[0] if isinstance(body, list) and body else None
        if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
            found.add(id(first.value))
    return found


def test_no_chinese_message_of_the_product_cites_a_short_form():
    """Issue 13: a refusal or a label a page or an integrator reads names the document and its
    article in Chinese (鄂医保发〔2023〕35号 第十八条), never ``HB art. 18`` or ``AH §2``."""
    offending = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if {"tests", "migrations"} & set(path.parts) or path.name == "citation_words.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = _docstrings(tree)
        for node in ast.walk(tree):
            text = node.value if isinstance(node, ast.Constant) else None
            if not isinstance(text, str) or id(node) in docstrings or not CJK.search(text):
                continue
            if "art." in text or "§" in text:
                offending.append(f"{path.relative_to(PACKAGE)}:{node.lineno}: {text}")
    assert offending == []


def test_the_designation_shortfalls_cite_the_regions_articles_in_words(db):
    load_seed_profiles()
    hubei = PolicyProfile.objects.get(region_id="420000")
    hospital = InstitutionFactory(
        kind=InstitutionKind.HOSPITAL,
        region_code="420102",
        has_pathology=False,
        has_gene_testing=False,
    )
    designation = designate(hospital)
    DesignationTransition.objects.create(
        designation=designation, from_status="active", to_status="suspended"
    )

    missing = institution_shortfalls(hospital, hubei, today=timezone.localdate())

    pathology = next(m for m in missing if "病理或基因检测" in m)
    suspended = next(m for m in missing if "暂停" in m)
    assert "鄂医保发〔2023〕35号 第十八条第（一）项" in pathology
    assert "鄂医保发〔2023〕35号 第十八条第（五）项、第十九条第（三）项" in suspended
    assert not [m for m in missing if "art." in m or "§" in m]
