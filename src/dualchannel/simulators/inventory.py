"""The simulated platform's 进销存 transactions: 3501–3506 store records, 3507 deletes one.

Records are kept by (pharmacy, ``inv_data_type``, ``fixmedins_bchno``) in ``SimInventoryRecord``
so that tests and reconciliation can see what the platform holds. The same serial with the same
content is answered again (with a warning) and never stored twice; with other content it is
refused. Node names (``invinfo``, ``purcinfo``, ``selinfo``, ``data``) and required fields
follow public vendor code of the specification **[uncertain]**; 3505 follows the reference.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils import timezone

from dualchannel.core.canonical import digest

from .common import Refusal
from .models import SimInventoryRecord

Output = tuple[dict[str, Any], str]

NODES = {
    "3501": "invinfo",
    "3502": "invinfo",
    "3503": "purcinfo",
    "3504": "purcinfo",
    "3505": "selinfo",
    "3506": "selinfo",
}
# inv_data_type of 3507: 1 stocktake, 2 stock change, 3 purchase, 4 sale.
DATA_TYPES = {"3501": "1", "3502": "2", "3503": "3", "3504": "3", "3505": "4", "3506": "4"}
COUNT_FIELDS = {
    "3501": "inv_cnt",
    "3502": "cnt",
    "3503": "purc_retn_cnt",
    "3504": "purc_retn_cnt",
    "3505": "sel_retn_cnt",
    "3506": "sel_retn_cnt",
}
TIME_FIELDS = {
    "3501": "invdate",
    "3502": "inv_chg_time",
    "3503": "purc_retn_stoin_time",
    "3504": "purc_retn_stoin_time",
    "3505": "sel_retn_time",
    "3506": "sel_retn_time",
}
COMMON_REQUIRED = (
    "med_list_codg",
    "fixmedins_hilist_id",
    "fixmedins_hilist_name",
    "fixmedins_bchno",
    "rx_flag",
)
EXTRA_REQUIRED = {
    "3503": ("spler_name", "manu_lotnum", "expy_end", "purc_retn_opter_name"),
    "3504": ("spler_name", "purc_retn_opter_name"),
    "3505": ("manu_lotnum", "expy_end", "sel_retn_opter_name", "mdtrt_setl_type"),
    "3506": ("manu_lotnum", "expy_end", "sel_retn_opter_name"),
}
LABELS = {
    "med_list_codg": "医疗目录编码",
    "fixmedins_hilist_id": "定点医药机构目录编号",
    "fixmedins_hilist_name": "定点医药机构目录名称",
    "fixmedins_bchno": "定点医药机构批次流水号",
    "rx_flag": "处方药标志",
    "spler_name": "供应商名称",
    "manu_lotnum": "生产批号",
    "expy_end": "有效期止",
    "purc_retn_opter_name": "采购/退货经办人姓名",
    "sel_retn_opter_name": "销售/退货经办人姓名",
    "mdtrt_setl_type": "就医结算类型",
    "inv_cnt": "库存数量",
    "cnt": "数量",
    "purc_retn_cnt": "采购/退货数量",
    "sel_retn_cnt": "销售/退货数量",
    "invdate": "盘存日期",
    "inv_chg_time": "库存变更时间",
    "purc_retn_stoin_time": "采购/退货入库时间",
    "sel_retn_time": "销售/退货时间",
}
MAX_TRACE_CODE = 100
MAX_BCHNO = 30


def _refuse(message: str) -> None:

    raise Refusal(message)


def _records(infno: str, data: dict[str, Any]) -> list[dict[str, Any]]:
    node = data.get(NODES[infno])
    records = [node] if isinstance(node, dict) else node
    valid = isinstance(records, list) and all(isinstance(r, dict) for r in records)
    if not valid or not records:
        _refuse(f"交易输入缺少 {NODES[infno]} 节点")
    return records


def _count(infno: str, record: dict[str, Any]) -> Decimal:
    name = COUNT_FIELDS[infno]
    try:
        value = Decimal(str(record[name]))
    except (InvalidOperation, KeyError):
        _refuse(f"{LABELS[name]}应为数值")
    if not value.is_finite():
        _refuse(f"{LABELS[name]}应为数值")
    if infno == "3501" and value < 0:
        _refuse(f"{LABELS[name]}不能小于0")
    if infno == "3502" and value == 0:
        _refuse(f"{LABELS[name]}不能为0")
    if infno not in ("3501", "3502") and value <= 0:
        _refuse(f"{LABELS[name]}应大于0")
    return value


def _trace_codes(record: dict[str, Any]) -> list[str]:
    info = record.get("drugtracinfo", [])
    if not isinstance(info, list):
        _refuse("追溯码信息（drugtracinfo）应为列表")
    found: list[str] = []
    for entry in info:
        code = entry.get("drug_trac_codg") if isinstance(entry, dict) else None
        if not isinstance(code, str) or not code or len(code) > MAX_TRACE_CODE:
            _refuse(f"药品追溯码应为1至{MAX_TRACE_CODE}位字符")
        found.append(code)
    if not found and isinstance(record.get("drug_trac_codg"), str) and record["drug_trac_codg"]:
        found = [record["drug_trac_codg"]]  # older versions: one code on the line
    return found


def _check(infno: str, record: dict[str, Any]) -> None:
    wanted = (*COMMON_REQUIRED, *EXTRA_REQUIRED.get(infno, ()), TIME_FIELDS[infno])
    missing = [LABELS[f] for f in wanted if not str(record.get(f, "")).strip()]
    if missing:
        _refuse(f"必填字段为空：{'、'.join(missing)}")
    if len(str(record["fixmedins_bchno"])) > MAX_BCHNO:
        _refuse(f"定点医药机构批次流水号不能超过{MAX_BCHNO}位")
    if infno == "3505" and str(record.get("psn_no", "")) and not str(record.get("certno", "")):
        _refuse("传入人员编号时证件号码必填")


def store(envelope: dict[str, Any], data: dict[str, Any]) -> Output:
    """3501–3506: validate every record first, then keep the new ones."""
    infno = envelope["infno"]
    code = envelope["fixmedins_code"]
    kept: list[SimInventoryRecord] = []
    repeated: list[str] = []
    for record in _records(infno, data):
        _check(infno, record)
        row = SimInventoryRecord(
            fixmedins_code=code,
            infno=infno,
            inv_data_type=DATA_TYPES[infno],
            fixmedins_bchno=str(record["fixmedins_bchno"]),
            med_list_codg=str(record["med_list_codg"])[:50],
            count=_count(infno, record),
            trace_codes=_trace_codes(record),
            request_digest=digest(record),
            data=record,
        )
        live = SimInventoryRecord.objects.filter(
            fixmedins_code=code,
            inv_data_type=row.inv_data_type,
            fixmedins_bchno=row.fixmedins_bchno,
            deleted_at__isnull=True,
        ).first()
        if live is not None:
            if live.request_digest != row.request_digest:
                _refuse(f"定点医药机构批次流水号[{row.fixmedins_bchno}]已存在")
            repeated.append(row.fixmedins_bchno)
            continue
        kept.append(row)
    SimInventoryRecord.objects.bulk_create(kept)
    warn = f"批次流水号{'、'.join(repeated)}已上传，未重复保存" if repeated else ""
    return {}, warn


def delete(envelope: dict[str, Any], data: dict[str, Any]) -> Output:
    """3507: delete one uploaded record by its serial and data type."""
    node = data.get("data")
    if not isinstance(node, dict):
        _refuse("交易输入缺少 data 节点")
    bchno = str(node.get("fixmedins_bchno", ""))
    data_type = str(node.get("inv_data_type", ""))
    if not bchno or data_type not in ("1", "2", "3", "4"):
        _refuse("必填字段为空或有误：定点医药机构批次流水号、进销存数据类型（1–4）")
    found = (
        SimInventoryRecord.objects.select_for_update()
        .filter(
            fixmedins_code=envelope["fixmedins_code"],
            inv_data_type=data_type,
            fixmedins_bchno=bchno,
            deleted_at__isnull=True,
        )
        .first()
    )
    if found is None:
        _refuse(f"未找到批次流水号[{bchno}]的进销存记录")
    found.deleted_at = timezone.now()
    found.save(update_fields=["deleted_at"])
    return {}, ""


INVENTORY_HANDLERS = {**dict.fromkeys(NODES, store), "3507": delete}
