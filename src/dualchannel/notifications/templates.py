"""Message templates, by code: Chinese title and body with ``{placeholders}``, plus the ids the SMS
provider and the WeChat official account know them by, and the WeChat field mapping.

Rendering masks ID numbers and phone numbers wherever they appear: messages leave the platform
(SMS, WeChat) and are shown on phones. A missing placeholder is refused when the message is
created, inside the business transaction, never discovered later at delivery.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from dualchannel.core.errors import DomainError
from dualchannel.core.masking import mask_id_number, mask_phone

# 18-digit resident ID (last may be X) or the old 15-digit one; mainland mobile numbers.
ID_NUMBER_RE = re.compile(r"(?<![0-9A-Za-z])(\d{17}[\dXx]|\d{15})(?![0-9A-Za-z])")
PHONE_RE = re.compile(r"(?<!\d)(1[3-9]\d{9})(?!\d)")

# WeChat template-message value limits by field type (official account "thing" fields ≤ 20).
WECHAT_FIELD_LIMITS = {"thing": 20, "character_string": 32, "phrase": 5, "time": 32, "date": 32}


def mask_personal(text: str) -> str:
    """Mask every ID number and phone number in free text."""
    text = ID_NUMBER_RE.sub(lambda m: mask_id_number(m.group(1)), text)
    return PHONE_RE.sub(lambda m: mask_phone(m.group(1)), text)


def _display(value: Any) -> str:
    if isinstance(value, datetime):
        local = timezone.localtime(value) if timezone.is_aware(value) else value
        return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}"
    if isinstance(value, date):
        return f"{value.year}年{value.month}月{value.day}日"
    if isinstance(value, list | tuple):
        return "；".join(f"{i}. {_display(v)}" for i, v in enumerate(value, 1))
    return str(value)


@dataclass(frozen=True)
class Rendered:
    title: str
    body: str
    values: dict[str, str]  # every placeholder's display text, masked


@dataclass(frozen=True)
class NotificationTemplate:
    code: str
    title: str
    body: str
    # The template's id at the SMS provider (registered with the operator, e.g. 阿里云 SMS_xxx)
    # and the parameters it takes, by placeholder name.
    sms_template_id: str
    sms_params: tuple[str, ...]
    # The template's id in the official account, and its data fields → placeholder.
    wechat_template_id: str
    wechat_fields: Mapping[str, str] = field(default_factory=dict)
    # Placeholders that must be non-empty lists (listed once, completely).
    list_params: tuple[str, ...] = ()

    @property
    def placeholders(self) -> set[str]:
        names = set()
        for text in (self.title, self.body):
            names.update(f for _, f, _, _ in string.Formatter().parse(text) if f)
        return names

    def render(self, context: Mapping[str, Any]) -> Rendered:
        needed = self.placeholders | set(self.sms_params) | set(self.wechat_fields.values())
        missing = sorted(n for n in needed if context.get(n) in (None, ""))
        if missing:
            raise DomainError(
                "notifications.missing_placeholder",
                f"通知模板 {self.code} 缺少内容：{'、'.join(missing)}",
                fields={name: ["必填"] for name in missing},
            )
        values: dict[str, str] = {}
        for name in needed:
            value = context[name]
            if name in self.list_params:
                if not isinstance(value, list | tuple) or not value:
                    raise DomainError(
                        "notifications.empty_list",
                        f"通知模板 {self.code} 的 {name} 应为非空列表",
                        fields={name: ["应为非空列表"]},
                    )
                # HB art. 7(2): every missing item is told once — no repeats, none left out.
                value = list(dict.fromkeys(str(v).strip() for v in value if str(v).strip()))
            values[name] = mask_personal(_display(value))
        return Rendered(
            title=self.title.format_map(values),
            body=self.body.format_map(values),
            values=values,
        )

    @property
    def sms_id(self) -> str:
        """The id registered with the SMS operator: settings.SMS_TEMPLATE_IDS, else built in."""
        return settings.SMS_TEMPLATE_IDS.get(self.code, self.sms_template_id)

    @property
    def wechat_id(self) -> str:
        """The official account's template id: settings.WECHAT_TEMPLATE_IDS, else built in."""
        return settings.WECHAT_TEMPLATE_IDS.get(self.code, self.wechat_template_id)

    def sms_payload(self, rendered: Rendered) -> dict[str, str]:
        return {name: rendered.values[name] for name in self.sms_params}

    def wechat_data(self, rendered: Rendered) -> dict[str, str]:
        data = {}
        for key, name in self.wechat_fields.items():
            kind = key.rstrip("0123456789")
            limit = WECHAT_FIELD_LIMITS.get(kind, 20)
            value = rendered.values[name]
            data[key] = value if len(value) <= limit else value[: limit - 1] + "…"
        return data


TEMPLATES: dict[str, NotificationTemplate] = {}


def _register(template: NotificationTemplate) -> None:
    TEMPLATES[template.code] = template


_register(
    NotificationTemplate(
        code="eligibility.application_submitted",
        title="用药资格申请已提交",
        body=(
            "您在{hospital_name}申请的{drug_name}双通道用药资格（申请号{application_no}）"
            "已提交，医院医保办将进行审核，请留意后续通知。"
        ),
        sms_template_id="DC_APPLICATION_SUBMITTED",
        sms_params=("drug_name", "application_no"),
        wechat_template_id="DC_APPLICATION_SUBMITTED",
        wechat_fields={
            "thing1": "drug_name",
            "character_string2": "application_no",
            "thing3": "hospital_name",
        },
    )
)
_register(
    NotificationTemplate(
        code="eligibility.materials_requested",
        title="请补充用药资格申请材料",
        body=(
            "您申请的{drug_name}用药资格（申请号{application_no}）还需补充以下材料："
            "{materials}。请于{deadline}前在手机上传或交至{hospital_name}医保办。"
            "以上为需补充的全部材料。"
        ),
        sms_template_id="DC_MATERIALS_REQUESTED",
        sms_params=("drug_name", "application_no", "deadline"),
        wechat_template_id="DC_MATERIALS_REQUESTED",
        wechat_fields={
            "thing1": "drug_name",
            "character_string2": "application_no",
            "thing3": "materials",
            "time4": "deadline",
        },
        list_params=("materials",),
    )
)
_register(
    NotificationTemplate(
        code="eligibility.under_review",
        title="用药资格申请审核中",
        body=(
            "您申请的{drug_name}用药资格（申请号{application_no}）材料已齐全，"
            "进入审核，医院将于{review_due}前完成审核。"
        ),
        sms_template_id="DC_UNDER_REVIEW",
        sms_params=("drug_name", "application_no", "review_due"),
        wechat_template_id="DC_UNDER_REVIEW",
        wechat_fields={
            "thing1": "drug_name",
            "character_string2": "application_no",
            "time3": "review_due",
        },
    )
)
_register(
    NotificationTemplate(
        code="eligibility.approved",
        title="用药资格审核通过",
        body=(
            "您申请的{drug_name}用药资格（申请号{application_no}）已审核通过，"
            "自{effective_date}起生效。下一步：{next_step}"
        ),
        sms_template_id="DC_APPROVED",
        sms_params=("drug_name", "effective_date"),
        wechat_template_id="DC_APPROVED",
        wechat_fields={
            "thing1": "drug_name",
            "time2": "effective_date",
            "thing3": "next_step",
        },
    )
)
_register(
    NotificationTemplate(
        code="eligibility.rejected",
        title="用药资格审核未通过",
        body=(
            "您申请的{drug_name}用药资格（申请号{application_no}）未通过审核，原因：{reason}。"
            "如有疑问请咨询{hospital_name}医保办。"
        ),
        sms_template_id="DC_REJECTED",
        sms_params=("drug_name", "application_no"),
        wechat_template_id="DC_REJECTED",
        wechat_fields={
            "thing1": "drug_name",
            "character_string2": "application_no",
            "thing3": "reason",
        },
    )
)
_register(
    NotificationTemplate(
        code="eligibility.withdrawn",
        title="用药资格申请已撤回",
        body=(
            "您申请的{drug_name}用药资格（申请号{application_no}）已撤回，原因：{reason}。"
            "如需继续用药，请由{hospital_name}责任医师重新提出申请。"
        ),
        sms_template_id="DC_WITHDRAWN",
        sms_params=("drug_name", "application_no"),
        wechat_template_id="DC_WITHDRAWN",
        wechat_fields={
            "thing1": "drug_name",
            "character_string2": "application_no",
            "thing3": "reason",
        },
    )
)
_register(
    NotificationTemplate(
        code="eligibility.material_refused",
        title="上传的材料未被采信",
        body=(
            "您为{drug_name}用药资格申请（申请号{application_no}）提交的「{material_kind}」"
            "未被采信，原因：{note}。请在手机上重新上传，或将原件交至{hospital_name}医保办。"
        ),
        sms_template_id="DC_MATERIAL_REFUSED",
        sms_params=("drug_name", "application_no", "material_kind"),
        wechat_template_id="DC_MATERIAL_REFUSED",
        wechat_fields={
            "thing1": "drug_name",
            "character_string2": "application_no",
            "thing3": "material_kind",
            "thing4": "note",
        },
    )
)
_register(
    NotificationTemplate(
        code="eligibility.reevaluation_window_open",
        title="请按时进行用药资格复评",
        body=(
            "您的{drug_name}用药资格须在{deadline}前完成复评，请预约{hospital_name}的责任医师。"
            "逾期未复评的，自次日起暂停待遇。"
        ),
        sms_template_id="DC_REEVALUATION_DUE",
        sms_params=("drug_name", "deadline"),
        wechat_template_id="DC_REEVALUATION_DUE",
        wechat_fields={"thing1": "drug_name", "time2": "deadline", "thing3": "hospital_name"},
    )
)
_register(
    NotificationTemplate(
        code="eligibility.suspended",
        title="用药资格已暂停",
        body=(
            "您的{drug_name}用药资格自{suspended_on}起暂停，原因：{reason}。"
            "完成复评或补办手续后可恢复。"
        ),
        sms_template_id="DC_ELIGIBILITY_SUSPENDED",
        sms_params=("drug_name", "suspended_on"),
        wechat_template_id="DC_ELIGIBILITY_SUSPENDED",
        wechat_fields={"thing1": "drug_name", "time2": "suspended_on", "thing3": "reason"},
    )
)
_register(
    NotificationTemplate(
        code="eligibility.reevaluation_started",
        title="用药资格复评已开始",
        body=(
            "您的{drug_name}用药资格复查评估已由{hospital_name}责任医师开始，复评期间待遇继续，"
            "请于{complete_by}前配合完成复评（如需检查请按医嘱办理）。"
        ),
        sms_template_id="DC_REEVALUATION_STARTED",
        sms_params=("drug_name", "complete_by"),
        wechat_template_id="DC_REEVALUATION_STARTED",
        wechat_fields={"thing1": "drug_name", "thing2": "hospital_name", "time3": "complete_by"},
    )
)
_register(
    NotificationTemplate(
        code="eligibility.reevaluation_completed",
        title="用药资格复评已完成",
        body=(
            "您的{drug_name}用药资格复评结果：{result}，待遇继续。下次复评请在{next_due}前完成。"
        ),
        sms_template_id="DC_REEVALUATION_COMPLETED",
        sms_params=("drug_name", "result", "next_due"),
        wechat_template_id="DC_REEVALUATION_COMPLETED",
        wechat_fields={"thing1": "drug_name", "thing2": "result", "time3": "next_due"},
    )
)
_register(
    NotificationTemplate(
        code="eligibility.stopped",
        title="用药资格已终止",
        body=(
            "您的{drug_name}用药资格自{stopped_on}起终止，原因：{reason}。"
            "如需继续用药，请由责任医师重新申请。"
        ),
        sms_template_id="DC_ELIGIBILITY_STOPPED",
        sms_params=("drug_name", "stopped_on"),
        wechat_template_id="DC_ELIGIBILITY_STOPPED",
        wechat_fields={"thing1": "drug_name", "time2": "stopped_on", "thing3": "reason"},
    )
)
_register(
    NotificationTemplate(
        code="prescriptions.routed",
        title="处方已流转至药店",
        body=(
            "您的{drug_name}处方（处方号{prescription_no}）已流转至{pharmacy_name}，"
            "请于{valid_until}前携带本人有效身份证件前往购药。"
        ),
        sms_template_id="DC_PRESCRIPTION_ROUTED",
        sms_params=("drug_name", "pharmacy_name", "valid_until"),
        wechat_template_id="DC_PRESCRIPTION_ROUTED",
        wechat_fields={
            "thing1": "drug_name",
            "thing2": "pharmacy_name",
            "time3": "valid_until",
        },
    )
)
_register(
    NotificationTemplate(
        code="prescriptions.issued",
        title="处方已开具",
        body=(
            "您的{drug_name}处方（处方号{prescription_no}）已开具，有效期至{valid_until}。"
            "请在手机上选择定点药店并同意处方流转。"
        ),
        sms_template_id="DC_PRESCRIPTION_ISSUED",
        sms_params=("drug_name", "valid_until"),
        wechat_template_id="DC_PRESCRIPTION_ISSUED",
        wechat_fields={
            "thing1": "drug_name",
            "character_string2": "prescription_no",
            "time3": "valid_until",
        },
    )
)
_register(
    NotificationTemplate(
        code="prescriptions.dispensed",
        title="已取药",
        body=(
            "您的{drug_name}处方（处方号{prescription_no}）已在{pharmacy_name}调剂，"
            "取药方式：{delivery}。"
        ),
        sms_template_id="DC_PRESCRIPTION_DISPENSED",
        sms_params=("drug_name", "pharmacy_name"),
        wechat_template_id="DC_PRESCRIPTION_DISPENSED",
        wechat_fields={"thing1": "drug_name", "thing2": "pharmacy_name", "thing3": "delivery"},
    )
)
_register(
    NotificationTemplate(
        # Every step of pickup, home delivery or the cold chain to the hospital [HB art. 29].
        code="prescriptions.delivery",
        title="取药配送进度：{status}",
        body="您的{drug_name}（处方号{prescription_no}）{progress}。",
        sms_template_id="DC_PRESCRIPTION_DELIVERY",
        sms_params=("drug_name", "status"),
        wechat_template_id="DC_PRESCRIPTION_DELIVERY",
        wechat_fields={
            "thing1": "drug_name",
            "phrase2": "status",
            "thing3": "progress",
        },
    )
)
_register(
    NotificationTemplate(
        # Each step of an online order (网订店取 / 网订店送) [CX art. 22].
        code="prescriptions.order",
        title="网上订单：{status}",
        body="您的{drug_name}网上订单（订单号{order_no}）{progress}。",
        sms_template_id="DC_PRESCRIPTION_ORDER",
        sms_params=("drug_name", "status"),
        wechat_template_id="DC_PRESCRIPTION_ORDER",
        wechat_fields={"thing1": "drug_name", "phrase2": "status", "thing3": "progress"},
    )
)
_register(
    NotificationTemplate(
        code="prescriptions.cancelled",
        title="处方已撤销",
        body="您的{drug_name}处方（处方号{prescription_no}）已由医师撤销，原因：{reason}。",
        sms_template_id="DC_PRESCRIPTION_CANCELLED",
        sms_params=("drug_name", "prescription_no"),
        wechat_template_id="DC_PRESCRIPTION_CANCELLED",
        wechat_fields={
            "thing1": "drug_name",
            "character_string2": "prescription_no",
            "thing3": "reason",
        },
    )
)
_register(
    NotificationTemplate(
        code="prescriptions.expired",
        title="处方已过期",
        body=(
            "您的{drug_name}处方（处方号{prescription_no}）已于{valid_until}过期未取药，"
            "如需继续用药请复诊。"
        ),
        sms_template_id="DC_PRESCRIPTION_EXPIRED",
        sms_params=("drug_name", "valid_until"),
        wechat_template_id="DC_PRESCRIPTION_EXPIRED",
        wechat_fields={
            "thing1": "drug_name",
            "character_string2": "prescription_no",
            "time3": "valid_until",
        },
    )
)
_register(
    NotificationTemplate(
        # Sent straight through the SMS provider by the patient portal, never queued or stored.
        code="portal.login_code",
        title="登录验证码",
        body="您的双通道患者服务登录验证码为{code}，5分钟内有效。请勿将验证码告诉他人。",
        sms_template_id="DC_LOGIN_CODE",
        sms_params=("code",),
        wechat_template_id="",
    )
)
# Agency officers: the Shandong monthly table is due by the 10th [SD §10].
_register(
    NotificationTemplate(
        code="analytics.sd_monthly_reminder",
        title="月度统计表报送提醒",
        body=(
            "请于{due_date}前向省医保局报送{city_name}{month_label}"
            "《全市谈判药品“双通道”管理工作情况统计表》。"
        ),
        sms_template_id="DC_SD_MONTHLY_REMINDER",
        sms_params=("city_name", "month_label", "due_date"),
        wechat_template_id="",
    )
)
_register(
    NotificationTemplate(
        code="analytics.sd_monthly_late",
        title="月度统计表逾期未报送",
        body=(
            "{city_name}{month_label}《全市谈判药品“双通道”管理工作情况统计表》"
            "未在{due_date}前报送省医保局，已标记为逾期。"
        ),
        sms_template_id="DC_SD_MONTHLY_LATE",
        sms_params=("city_name", "month_label"),
        wechat_template_id="",
    )
)
# The patient's own filing request [HB art. 7(1)(3)]: each step of the hospital's handling.
_register(
    NotificationTemplate(
        code="eligibility.filing_request_submitted",
        title="备案申请已提交",
        body=(
            "您的{drug_name}用药资格备案申请（编号{request_no}）已推送至{hospital_name}的"
            "双通道责任医师，医院应于{due_on}前办结，请留意后续通知。"
        ),
        sms_template_id="DC_FILING_REQUEST_SUBMITTED",
        sms_params=("drug_name", "request_no", "due_on"),
        wechat_template_id="DC_FILING_REQUEST_SUBMITTED",
        wechat_fields={
            "thing1": "drug_name",
            "character_string2": "request_no",
            "thing3": "hospital_name",
            "time4": "due_on",
        },
    )
)
# To each responsible physician of the hospital the request is pushed to [HB art. 7(3)]; staff
# inbox only (the message links to the request in the physicians' queue).
_register(
    NotificationTemplate(
        code="eligibility.filing_request_arrived",
        title="新的患者备案申请",
        body=(
            "患者申请的{drug_name}用药资格备案（编号{request_no}）已推送至{hospital_name}"
            "双通道责任医师，请于{due_on}前受理并办结。"
        ),
        sms_template_id="DC_FILING_REQUEST_ARRIVED",
        sms_params=("drug_name", "request_no"),
        wechat_template_id="",
    )
)
_register(
    NotificationTemplate(
        code="eligibility.filing_request_taken",
        title="备案申请已由医师受理",
        body=(
            "您的{drug_name}用药资格备案申请（编号{request_no}）已由{hospital_name}"
            "{physician_name}医师受理，正在办理。"
        ),
        sms_template_id="DC_FILING_REQUEST_TAKEN",
        sms_params=("drug_name", "request_no"),
        wechat_template_id="DC_FILING_REQUEST_TAKEN",
        wechat_fields={
            "thing1": "drug_name",
            "character_string2": "request_no",
            "thing3": "hospital_name",
        },
    )
)
_register(
    NotificationTemplate(
        code="eligibility.filing_request_completed",
        title="备案申请已转为用药资格申请",
        body=(
            "您的{drug_name}用药资格备案申请（编号{request_no}）已由{hospital_name}"
            "责任医师建立用药资格申请（申请号{application_no}），您上传的材料已一并提交。"
        ),
        sms_template_id="DC_FILING_REQUEST_COMPLETED",
        sms_params=("drug_name", "request_no", "application_no"),
        wechat_template_id="DC_FILING_REQUEST_COMPLETED",
        wechat_fields={
            "thing1": "drug_name",
            "character_string2": "application_no",
            "thing3": "hospital_name",
        },
    )
)
_register(
    NotificationTemplate(
        code="eligibility.filing_request_declined",
        title="备案申请未受理",
        body=(
            "您的{drug_name}用药资格备案申请（编号{request_no}）{hospital_name}未予受理，"
            "原因：{reason}"
        ),
        sms_template_id="DC_FILING_REQUEST_DECLINED",
        sms_params=("drug_name", "request_no"),
        wechat_template_id="DC_FILING_REQUEST_DECLINED",
        wechat_fields={
            "thing1": "drug_name",
            "character_string2": "request_no",
            "thing3": "reason",
        },
    )
)
_register(
    NotificationTemplate(
        code="generic",
        title="{title}",
        body="{body}",
        sms_template_id="DC_GENERIC",
        sms_params=("title",),
        wechat_template_id="DC_GENERIC",
        wechat_fields={"thing1": "title", "thing2": "body"},
    )
)


def get_template(code: str) -> NotificationTemplate:
    try:
        return TEMPLATES[code]
    except KeyError:
        raise DomainError("notifications.unknown_template", f"未知的通知模板：{code}") from None


def check_configured_ids() -> None:
    """Refuse to start when the settings name a template that does not exist (a typo)."""
    for setting in ("SMS_TEMPLATE_IDS", "WECHAT_TEMPLATE_IDS"):
        unknown = sorted(set(getattr(settings, setting, {})) - set(TEMPLATES))
        if unknown:
            raise ImproperlyConfigured(f"{setting} names unknown templates: {', '.join(unknown)}")
