"""A criterion's expression said in words, shown next to the expression itself (issue 12,
point 5): the officer who edits criteria reads what the rule checks without reading CEL.

Only the shapes the authored criteria use are said; anything else is left to the expression
(``None``), never guessed."""

from __future__ import annotations

import re

GENE_VALUES = {
    "positive": "阳性",
    "negative": "阴性",
    "pathogenic": "致病性变异",
    "wildtype": "野生型",
    "exon19del": "19外显子缺失",
    "exon14skipping": "14外显子跳跃突变",
    "homozygous_deletion": "纯合缺失",
    "compound_heterozygous": "复合杂合突变",
    "PM": "慢代谢型",
    "IM": "中间代谢型",
    "EM": "快代谢型",
}
LABS = {
    "LDL_C": "低密度脂蛋白胆固醇（mmol/L）",
    "BCVA": "最佳矫正视力",
    "ACHR_AB": "乙酰胆碱受体抗体（nmol/L）",
}
THERAPIES = {
    "corticosteroid": "糖皮质激素",
    "immunoglobulin": "免疫球蛋白",
    "splenectomy": "脾切除",
    "statin": "他汀类药物",
    "proteasome-inhibitor": "蛋白酶体抑制剂",
    "immunomodulator": "免疫调节剂",
}
OPS = {">=": "≥", "<=": "≤", ">": ">", "<": "<", "==": "为"}
_STR = r'"([^"]*)"'
_LIST = r"\[([^\]]*)\]"


def _items(raw: str, labels: dict[str, str]) -> str:
    return "、".join(labels.get(v, v) for v in re.findall(_STR, raw))


def _diagnoses(m: re.Match) -> str:
    body = m.group(1)
    starts = re.findall(r'd\.startsWith\("([^"]+)"\)', body)
    if starts and re.fullmatch(r'(\s*d\.startsWith\("[^"]+"\)\s*(\|\|)?)+', body):
        return "诊断编码以 " + " 或 ".join(starts) + " 开头"
    pattern = re.fullmatch(r'\s*d\.matches\("([^"]+)"\)\s*', body)
    if pattern:
        return f"诊断编码符合规则 {pattern.group(1)}"
    return m.group(0)


RULES: list[tuple[str, object]] = [
    (r"diagnoses\.exists\(d,\s*((?:[^()]|\([^()]*\))*)\)", _diagnoses),
    (r"patient\.age\s*(>=|<=|>|<)\s*(\d+)", lambda m: f"年龄{OPS[m.group(1)]}{m.group(2)}岁"),
    (
        r'genes\["([^"]+)"\]\s*==\s*' + _STR,
        lambda m: f"{m.group(1)} 基因检测为{GENE_VALUES.get(m.group(2), m.group(2))}",
    ),
    (
        r'genes\["([^"]+)"\]\s+in\s+' + _LIST,
        lambda m: f"{m.group(1)} 基因检测为{_items(m.group(2), GENE_VALUES)}之一",
    ),
    (
        r'labs\["([^"]+)"\]\s*(>=|<=|>|<)\s*([\d.]+)',
        lambda m: f"{LABS.get(m.group(1), m.group(1))}{OPS[m.group(2)]}{m.group(3)}",
    ),
    (
        r"prior_therapies\.exists\(t,\s*t\s+in\s+" + _LIST + r"\)",
        lambda m: f"既往使用过{_items(m.group(1), THERAPIES)}之一",
    ),
    (
        r"!\(\s*" + _STR + r"\s+in\s+prior_therapies\s*\)",
        lambda m: f"既往未使用{THERAPIES.get(m.group(1), m.group(1))}",
    ),
    (
        _STR + r"\s+in\s+prior_therapies",
        lambda m: f"既往使用过{THERAPIES.get(m.group(1), m.group(1))}",
    ),
]


def expression_in_words(expression: str) -> str | None:
    """The expression in Chinese, or None when a part of it is not a shape said here."""
    text = (expression or "").strip()
    if not text:
        return None
    for pattern, words in RULES:
        text = re.sub(pattern, words, text)
    text = text.replace(" && ", "，且").replace(" || ", "，或")
    if re.search(r"[A-Za-z_]+\.|\[|\]|==|&&|\|\||!\(|\"", text):
        return None  # something the rules above do not say: the expression speaks for itself
    return text
