"""Chinese names of the ATC-based categories used by the national list (西药 codes start with X).

Only the first and second levels are named; deeper codes (e.g. ``XL01ED``) are found by prefix.
The names follow the WHO ATC classification as the national list prints it.
"""

from __future__ import annotations

from dataclasses import dataclass

CATEGORY_NAMES: dict[str, str] = {
    "XA": "消化道和代谢方面的药物",
    "XA02": "治疗胃酸相关类疾病的药物",
    "XA03": "治疗功能性胃肠道疾病的药物",
    "XA04": "止吐药和止恶心药",
    "XA05": "胆和肝治疗药",
    "XA06": "治疗便秘药物",
    "XA07": "止泻药、肠道消炎/抗感染药",
    "XA10": "糖尿病用药",
    "XA11": "维生素类",
    "XA16": "其他消化道及代谢用药",
    "XB": "血液和造血器官药",
    "XB01": "抗血栓形成药",
    "XB02": "抗出血药",
    "XB03": "抗贫血药",
    "XB05": "血液代用品和灌注液",
    "XB06": "其他血液系统用药",
    "XC": "心血管系统",
    "XC01": "心脏治疗药",
    "XC03": "利尿剂",
    "XC07": "β-受体阻滞剂",
    "XC08": "钙通道阻滞剂",
    "XC09": "作用于肾素-血管紧张素系统的药物",
    "XC10": "调节血脂药",
    "XD": "皮肤病用药",
    "XD01": "皮肤用抗真菌药",
    "XD11": "其他皮肤科制剂",
    "XG": "泌尿生殖系统药和性激素",
    "XG01": "妇科抗感染药和抗菌剂",
    "XG03": "性激素和生殖系统调节药",
    "XH": "除性激素和胰岛素外的全身激素制剂",
    "XH01": "垂体和下丘脑激素及类似物",
    "XH02": "全身用皮质激素类",
    "XH05": "钙稳态药",
    "XJ": "全身用抗感染药",
    "XJ01": "全身用抗细菌药",
    "XJ02": "全身用抗真菌药",
    "XJ04": "抗分枝杆菌药",
    "XJ05": "全身用抗病毒药",
    "XJ06": "免疫血清及免疫球蛋白",
    "XL": "抗肿瘤药和免疫调节剂",
    "XL01": "抗肿瘤药",
    "XL02": "内分泌治疗用药",
    "XL03": "免疫兴奋剂",
    "XL04": "免疫抑制剂",
    "XM": "肌肉-骨骼系统",
    "XM01": "抗炎和抗风湿药",
    "XM04": "抗痛风药",
    "XM05": "治疗骨病的药物",
    "XM09": "其他肌肉-骨骼系统疾病用药",
    "XN": "神经系统药物",
    "XN01": "麻醉剂",
    "XN02": "镇痛药",
    "XN03": "抗癫痫药",
    "XN05": "精神安定药",
    "XN06": "精神兴奋药",
    "XN07": "其他神经系统药物",
    "XR": "呼吸系统",
    "XR01": "鼻部制剂",
    "XR03": "用于阻塞性气道疾病的药物",
    "XR06": "全身用抗组胺药",
    "XS": "感觉器官药物",
    "XS01": "眼科用药",
    "XV": "其他",
    "XV01": "肠内营养剂",
    "XV03": "其他治疗药物",
    "XV04": "诊断用药",
    "XV08": "造影剂",
    "XV09": "诊断用放射性药物",
}


@dataclass(frozen=True)
class Category:
    code: str
    name: str
    level: int  # 1: anatomical main group (XL), 2: therapeutic subgroup (XL01)
    parent: str  # '' at level 1


def category_name(code: str) -> str:
    """The most specific named level of ``code`` (``XL01ED`` → 抗肿瘤药)."""
    code = (code or "").upper()
    for length in (4, 2):
        if code[:length] in CATEGORY_NAMES and len(code) >= length:
            return CATEGORY_NAMES[code[:length]]
    return ""


def all_categories() -> list[Category]:
    return [
        Category(code, name, 1 if len(code) == 2 else 2, "" if len(code) == 2 else code[:2])
        for code, name in sorted(CATEGORY_NAMES.items())
    ]


def codes_matching_name(text: str) -> list[str]:
    """Codes of the category named ``text`` exactly, else of those whose name contains it.

    抗肿瘤药 → XL01 only; 抗肿瘤 → XL and XL01.
    """
    text = (text or "").strip()
    if not text:
        return []
    exact = [code for code, name in CATEGORY_NAMES.items() if name == text]
    return sorted(exact or (code for code, name in CATEGORY_NAMES.items() if text in name))
