"""The statistics page's sections (issue 13 §1): each is one or more tables and, where it helps,
a chart, built from ``stats`` (rollups) and ``stats_activity`` (their own tables). The page
renders them and the .xlsx export writes the same tables, so both always show the same figures."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from . import stats, stats_activity
from .stats import AMOUNT_FIELDS, AMOUNT_LABELS, StatsScope


@dataclass(frozen=True)
class StatTable:
    title: str
    headers: tuple[str, ...]
    rows: list[tuple]
    note: str = ""


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    tables: list[StatTable]
    # {"kind": "line"|"bar", "categories": [...], "series": [{"name", "data", "axis"}]}
    chart: dict | None = None
    figures: list[tuple[str, object]] = field(default_factory=list)


def _amounts(row: dict) -> tuple:
    return tuple(row[name] for name in AMOUNT_FIELDS)


def _number(value) -> float | int:
    """A chart's value (JSON): yuan as a float for drawing only; tables keep Decimals."""
    return float(value) if isinstance(value, Decimal) else value


def overview(scope: StatsScope, today: date | None) -> Section:
    figures = stats.key_figures(scope)
    before = stats.key_figures(scope.previous())
    months = stats.trend(scope)
    rx = stats_activity.prescription_figures(scope)
    change = (
        f"{((figures['total'] - before['total']) / before['total'] * 100):.1f}%"
        if before["total"]
        else "—"
    )
    key = [
        ("协议期内纳入“双通道”管理的谈判药品（种）", stats_activity.drugs_in_list(scope, today)),
        ("结算人次", figures["settlements"]),
        ("就诊患者（人）", figures["patients"]),
        *(
            (f"{label}（元）", figures[name])
            for name, label in zip(AMOUNT_FIELDS, AMOUNT_LABELS, strict=True)
        ),
        ("医疗费总额较上一期", change),
        ("开具处方（张）", sum(r["issued"] for r in rx)),
        ("流转处方（张）", sum(r["circulated"] for r in rx)),
        ("药店发药（次）", sum(r["dispensed"] for r in rx)),
    ]
    trend_table = StatTable(
        "逐月趋势",
        ("月份", "结算人次", "就诊患者", *AMOUNT_LABELS, "总额环比(%)"),
        [
            (r["month"], r["settlements"], r["patients"], *_amounts(r), r["change"] or "—")
            for r in months
        ],
    )
    rx_table = StatTable(
        "处方开具、流转与发药",
        ("月份", "开具处方", "流转处方", "药店发药"),
        [(r["month"], r["issued"], r["circulated"], r["dispensed"]) for r in rx],
    )
    chart = {
        "kind": "line",
        "categories": [r["month"] for r in months],
        "series": [
            {"name": "医疗费总额（元）", "data": [_number(r["total"]) for r in months]},
            {"name": "统筹基金（元）", "data": [_number(r["fund"]) for r in months]},
            {"name": "就诊患者（人）", "data": [r["patients"] for r in months], "axis": 1},
        ],
    }
    return Section(
        "overview",
        "概览",
        [StatTable("主要指标", ("指标", "数值"), key), trend_table, rx_table],
        chart,
        key,
    )


BREAKDOWN_TITLES = {
    "drug": "按药品",
    "institution": "按机构",
    "physician": "按医师",
    "county": "按县区",
    "insurance": "按险种",
}


def breakdown(by: str) -> Callable[[StatsScope, date | None], Section]:
    def build(scope: StatsScope, today: date | None) -> Section:
        rows = stats.breakdown(scope, by)
        label = stats.DIMENSIONS[by][1]
        count = "结算明细（条）" if by == "drug" else "结算人次"
        table = StatTable(
            f"{BREAKDOWN_TITLES[by]}统计",
            (label, count, "数量", "就诊患者", *AMOUNT_LABELS),
            [
                (
                    r["label"],
                    r["lines"] if by == "drug" else r["settlements"],
                    r["quantity"],
                    r["patients"],
                    *_amounts(r),
                )
                for r in rows
            ],
            note="一笔结算含多种药品时，各支付方金额按药品金额比例分摊到分（最大余数法）。"
            if by == "drug"
            else "",
        )
        top = rows[:10]
        chart = {
            "kind": "bar",
            "categories": [r["label"] for r in top],
            "series": [
                {"name": "医疗费总额（元）", "data": [_number(r["total"]) for r in top]},
                {"name": "统筹基金（元）", "data": [_number(r["fund"]) for r in top]},
            ],
        }
        return Section(by, BREAKDOWN_TITLES[by], [table], chart if top else None)

    return build


def hospitals(scope: StatsScope, today: date | None) -> Section:
    rows = stats.hospital_evaluation(scope)
    table = StatTable(
        "定点医疗机构考核指标（楚医保规〔2022〕4号 第十三条：业务量、费用、品种、患者）",
        ("医疗机构", "结算人次", "医疗费总额（元）", "药品品种（种）", "就诊患者（人）"),
        [(r["label"], r["settlements"], r["total"], r["varieties"], r["patients"]) for r in rows],
        note="含本院医师开具、在本院或定点药店结算的处方，及本院无处方医师的结算。",
    )
    return Section("hospitals", "医院考核", [table])


def eligibility(scope: StatsScope, today: date | None) -> Section:
    work = stats_activity.eligibility_work(scope, today)
    summary = [
        ("提交申请（件）", work["submitted"]),
        ("审核通过", work["approved"]),
        ("未通过", work["rejected"]),
        ("已撤回", work["withdrawn"]),
        ("办理中", work["open"]),
        (
            "平均审核用时（工作日）",
            work["average_days"] if work["average_days"] is not None else "—",
        ),
        (
            "最长审核用时（工作日）",
            work["longest_days"] if work["longest_days"] is not None else "—",
        ),
        ("超过审核时限（件）", len(work["overruns"])),
    ]
    overruns = StatTable(
        "超过审核时限的申请",
        (
            "申请号",
            "医疗机构",
            "县（市、区）",
            "材料齐全日",
            "审核截止日",
            "时限（工作日）",
            "已用（工作日）",
            "状态",
        ),
        [
            (
                o["application_no"],
                o["hospital"],
                o["county"],
                o["complete_on"],
                o["review_due"],
                o["limit"],
                o["days"] if o["days"] is not None else "—",
                "已办结（逾期）" if o["decided"] else "逾期未办结",
            )
            for o in work["overruns"]
        ],
    )
    return Section(
        "eligibility",
        "资格审核",
        [StatTable("用药资格认定办理", ("指标", "数值"), summary), overruns],
    )


def coverage(scope: StatsScope, today: date | None) -> Section:
    rows = stats_activity.coverage(scope, today)
    on = stats_activity.as_of(scope, today)
    table = StatTable(
        f"定点机构覆盖（截至 {on:%Y-%m-%d}）",
        (
            "县（市、区）",
            "双通道医疗机构",
            "双通道药店",
            "即时联网结算药店",
            "电子处方流转药店",
            "未达要求",
        ),
        [
            (
                r["name"],
                r["hospitals"],
                r["pharmacies"],
                r["realtime"],
                r["e_rx"],
                "；".join(r["shortfalls"]) or "达标",
            )
            for r in rows
        ],
    )
    chart = {
        "kind": "bar",
        "categories": [r["name"] for r in rows],
        "series": [
            {"name": "双通道医疗机构", "data": [r["hospitals"] for r in rows]},
            {"name": "双通道药店", "data": [r["pharmacies"] for r in rows]},
            {"name": "即时联网结算药店", "data": [r["realtime"] for r in rows]},
            {"name": "电子处方流转药店", "data": [r["e_rx"] for r in rows]},
        ],
    }
    return Section("coverage", "定点覆盖", [table], chart if rows else None)


SECTIONS: dict[str, tuple[str, Callable[[StatsScope, date | None], Section]]] = {
    "overview": ("概览", overview),
    **{by: (title, breakdown(by)) for by, title in BREAKDOWN_TITLES.items()},
    "hospitals": ("医院考核", hospitals),
    "eligibility": ("资格审核", eligibility),
    "coverage": ("定点覆盖", coverage),
}


def build_section(key: str, scope: StatsScope, today: date | None = None) -> Section:
    """The section ``key`` (an unknown key is refused by the caller's lookup)."""
    return SECTIONS[key][1](scope, today)
