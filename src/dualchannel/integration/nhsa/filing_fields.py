"""The input of a 2503 filing (门慢门特病种 / 特药 备案) as the interface defines it.

Shared by the client's validation (``integration.services.filing``) and the platform simulator.
"""

FILING_REQUIRED = (
    "psn_no",
    "insutype",
    "opsp_dise_code",
    "opsp_dise_name",
    "insu_optins",
    "ide_fixmedins_no",
    "ide_fixmedins_name",
    "hosp_ide_date",
    "diag_dr_codg",
    "diag_dr_name",
    "begndate",
)
FILING_FIELDS = (*FILING_REQUIRED, "tel", "addr", "enddate")
FILING_LABELS = {
    "psn_no": "人员编号",
    "insutype": "险种类型",
    "opsp_dise_code": "门慢门特病种目录代码",
    "opsp_dise_name": "门慢门特病种名称",
    "insu_optins": "参保机构医保区划",
    "ide_fixmedins_no": "鉴定定点医药机构编号",
    "ide_fixmedins_name": "鉴定定点医药机构名称",
    "hosp_ide_date": "医院鉴定日期",
    "diag_dr_codg": "诊断医师编码",
    "diag_dr_name": "诊断医师姓名",
    "begndate": "开始日期",
    "enddate": "结束日期",
    "tel": "联系电话",
    "addr": "联系地址",
}
