"""What the simulated platform's handlers share: the refusal, its time stamps and serials."""

from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import F

from dualchannel.integration.nhsa.envelope import SHANGHAI

from .models import SimSerial


class Refusal(Exception):
    """The platform's answer infcode -1 with this err_msg."""

    def __init__(self, err_msg: str) -> None:
        super().__init__(err_msg)
        self.err_msg = err_msg


def stamp(moment: datetime, fmt: str) -> str:
    """``moment`` in Beijing time as the platform writes it (``%f``: to the millisecond)."""
    local = moment.astimezone(SHANGHAI)
    text = local.strftime(fmt)
    if fmt.endswith("%f"):
        text = text[:-3]  # milliseconds: yyyyMMddHHmmssSSS
    return text


def next_serial(name: str) -> int:
    # The UPDATE locks the row until the transaction ends, so the value read back is ours.
    with transaction.atomic():
        if not SimSerial.objects.filter(name=name).update(value=F("value") + 1):
            try:
                with transaction.atomic():
                    SimSerial.objects.create(name=name, value=1)
                    return 1
            except IntegrityError:
                SimSerial.objects.filter(name=name).update(value=F("value") + 1)
        return SimSerial.objects.get(name=name).value
