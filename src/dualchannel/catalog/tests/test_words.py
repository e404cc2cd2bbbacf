"""A criterion's expression said in words next to it (issue 12, point 5)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from dualchannel.catalog.models import Drug
from dualchannel.catalog.words import expression_in_words


@pytest.mark.parametrize(
    ("expression", "words"),
    [
        ('genes["ALK"] == "positive"', "ALK 基因检测为阳性"),
        ("patient.age >= 18", "年龄≥18岁"),
        (
            'diagnoses.exists(d, d.startsWith("G12.0") || d.startsWith("G12.1"))',
            "诊断编码以 G12.0 或 G12.1 开头",
        ),
        (
            'genes["EGFR"] in ["exon19del", "L858R"] && !("EGFR-TKI" in prior_therapies)',
            "EGFR 基因检测为19外显子缺失、L858R之一，且既往未使用EGFR-TKI",
        ),
        ('labs["BCVA"] >= 0.05 && labs["BCVA"] <= 0.5', "最佳矫正视力≥0.05，且最佳矫正视力≤0.5"),
    ],
)
def test_the_shapes_the_authored_criteria_use_are_said_in_chinese(expression, words):
    assert expression_in_words(expression) == words


def test_a_shape_not_known_is_left_to_the_expression_never_guessed():
    assert expression_in_words('setting == "inpatient" && size(diagnoses) > 2') is None
    assert expression_in_words("") is None


@pytest.mark.django_db
def test_the_drug_page_shows_the_words_beside_the_expression(nrdl2025, officer_client):
    drug = Drug.objects.get(generic_name="洛拉替尼片")

    page = officer_client.get(reverse("agency-drug", args=[drug.id])).content.decode()

    assert "ALK 基因检测为阳性" in page and "genes[&quot;ALK&quot;]" in page
