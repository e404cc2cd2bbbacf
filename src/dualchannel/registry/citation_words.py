"""A policy profile's citations in words for a page: the project's short forms of the seed
documents (``HB art. 13–15、42``, ``AH §2(5)``, ``CX art. 14(2)``, ``SD §3``) become the
document's number and its article in Chinese (``鄂医保发〔2023〕35号 第十三至十五条、第四十二条``),
so a page never shows an internal abbreviation. Text already in words passes unchanged."""

from __future__ import annotations

import re

DOCUMENTS = {
    "AH": "皖医保秘〔2021〕58号",
    "HB": "鄂医保发〔2023〕35号",
    "CX": "楚医保规〔2022〕4号",
    "SD": "山东省医疗保障局通知（2022年）",
}
DIGITS = "零一二三四五六七八九"
# one numbered part: 13, 20(1), 2(5); a list of them joined by 、 or ranges by – / -
PART = r"\d+(?:\(\d+\))*"
PARTS = rf"{PART}(?:\s*[–-]\s*{PART})?(?:\s*[、,]\s*(?:§|art\.)?\s*{PART}(?:\s*[–-]\s*{PART})?)*"
SHORT_FORM = re.compile(rf"\b(AH|HB|CX|SD)\s*(art\.|§)\s*({PARTS})")


def chinese_number(n: int) -> str:
    """1–99 in Chinese numerals (the seed documents number no further)."""
    if n < 10:
        return DIGITS[n]
    tens, ones = divmod(n, 10)
    return ("十" if tens == 1 else f"{DIGITS[tens]}十") + (DIGITS[ones] if ones else "")


def _one(part: str, unit: str) -> str:
    match = re.fullmatch(r"(\d+)((?:\(\d+\))*)", part.strip())
    if match is None:
        return part
    head = chinese_number(int(match[1]))
    # 7(1)(3): items one and three of article seven
    items = "、".join(
        f"第（{chinese_number(int(n))}）项" for n in re.findall(r"\((\d+)\)", match[2])
    )
    return f"第{head}{unit}{items}"


def _parts(text: str, unit: str) -> str:
    words = []
    for piece in re.split(r"\s*[、,]\s*(?:§|art\.)?\s*", text):
        ends = re.split(r"\s*[–-]\s*", piece)
        if len(ends) == 2 and "(" not in piece:
            first, last = (chinese_number(int(e)) for e in ends)
            words.append(f"第{first}至{last}{unit}")
        else:
            words.append("至".join(_one(end, unit).removeprefix("第") for end in ends))
            words[-1] = words[-1] if words[-1].startswith("第") else f"第{words[-1]}"
    return "、".join(words)


def citation_in_words(text: str) -> str:
    """``text`` with every short form of a seed document written out in Chinese."""

    def spell(match: re.Match) -> str:
        unit = "条" if match[2] == "art." else "部分"
        return f"{DOCUMENTS[match[1]]} {_parts(match[3], unit)}"

    return SHORT_FORM.sub(spell, text or "")


def citations_in_words(citations: dict | None) -> dict[str, str]:
    """A profile's ``citations`` with each one in words (for a template's ``citations.key``)."""
    return {key: citation_in_words(str(value)) for key, value in (citations or {}).items()}
