"""Sections that apps above prescriptions add to the counter's result page.

The counter dispenses; what follows at the same desk (settlement, today) belongs to apps that
import prescriptions, so prescriptions cannot import them. Each registers its section in its
``AppConfig.ready()``: a template included after the delivery and the function that fills it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest

SectionContext = Callable[[HttpRequest, Any], dict[str, Any]]


@dataclass(frozen=True)
class ResultSection:
    template: str
    context: SectionContext  # (request, prescription) → the template's variables


_sections: dict[str, ResultSection] = {}


def counter_result_section_register(*, template: str, context: SectionContext) -> None:
    """Add a section (or replace the one with this template), in registration order."""
    _sections[template] = ResultSection(template=template, context=context)


def result_sections() -> list[ResultSection]:
    return list(_sections.values())
