"""How a drug is taken: frequency and route as people pick them, with the codes systems send.

Routes follow WS 364.3-2011 CV06.00.102 用药途径代码 (the code the e-prescription centre's
``medcWayCodg`` carries); frequencies use the customary abbreviations (``usedFrquCodg``), which
provincial dictionaries (1901) may map further.
"""

from __future__ import annotations

FREQUENCY_CODES = {
    "每日一次": "qd",
    "每日两次": "bid",
    "每日三次": "tid",
    "每日四次": "qid",
    "隔日一次": "qod",
    "每周一次": "qw",
    "每两周一次": "q2w",
    "每三周一次": "q3w",
    "每四周一次": "q4w",
}
ROUTE_CODES = {
    "口服": "1",
    "直肠用药": "2",
    "舌下用药": "3",
    "皮下注射": "401",
    "皮内注射": "402",
    "肌内注射": "403",
    "静脉注射": "404",
    "静脉滴注": "404",
    "吸入": "5",
    "外用": "6",
}
DOSE_UNITS = ("mg", "g", "μg", "ml", "IU", "万IU", "粒", "片", "支")
