"""What a page must never show a person (issue 12, point 9; issue 13): a short form of a seed
document, an error code or field path, a full ID number or mobile number. Shared by the browser
tests."""

from __future__ import annotations

import re

INTERNAL = re.compile(
    r"(?:HB|AH|CX|SD)\s*(?:art\.|§)"
    r"|(?<![A-Za-z0-9])[a-z]+(?:\.[a-z]+)*_[a-z_]+(?![A-Za-z])"
    r"|(?<![A-Za-z0-9])[a-z]+\.[a-z]+(?:\.[a-z]+)*(?![A-Za-z])"
    # an ID number: eighteen characters not glued to a letter (an order number WD + 18 digits
    # is not one)
    r"|(?<![0-9A-Za-z])\d{17}[0-9X](?![0-9])"
)
MOBILE = re.compile(r"(?<![0-9])1[3-9]\d{9}(?![0-9])")


def in_words(page) -> str:
    """The page's visible text, after checking it holds nothing internal."""
    text = page.locator("main, body").first.inner_text()
    found = INTERNAL.findall(text)
    assert found == [], found
    return text


def masked_in_words(page) -> str:
    """``in_words``, and no full mobile number either (masked as 139****5678)."""
    text = in_words(page)
    found = MOBILE.findall(text)
    assert found == [], found
    return text
