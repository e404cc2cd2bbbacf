"""Complaints built through the public service, as the public submits them."""

from __future__ import annotations

from dualchannel.complaints import services


def submit(**kwargs):
    values = {
        "category": "not_stocked",
        "text": "医院说该药未配备，让我去指定药店购买。",
        "contact_phone": "13812345678",
    }
    values.update(kwargs)
    return services.complaint_submit(**values)
