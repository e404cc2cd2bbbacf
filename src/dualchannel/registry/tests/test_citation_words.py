"""A profile's citations on a page are in the document's words, never the project's short forms
(issue 12: no internal codes on pages)."""

from __future__ import annotations

import json

import pytest

from dualchannel.registry.citation_words import citation_in_words, citations_in_words
from dualchannel.registry.profiles import PROFILES_FILE

CASES = [
    ("HB art. 40：直接结算", "鄂医保发〔2023〕35号 第四十条：直接结算"),
    ("HB art. 13–15、42：医保医师", "鄂医保发〔2023〕35号 第十三至十五条、第四十二条：医保医师"),
    ("HB art. 18(5)、19(3)", "鄂医保发〔2023〕35号 第十八条第（五）项、第十九条第（三）项"),
    ("AH §2(2)、§2(5)", "皖医保秘〔2021〕58号 第二部分第（二）项、第二部分第（五）项"),
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
