"""An attempted sale above the payment standard, refused at the counter, is also a monitoring
finding [CX art. 26, HB art. 30; HB art. 47]: the refusal rolls the dispensing back, the alert
stays (``monitoring.services.alert_raise_independent``) with the rule's severity in the
pharmacy's region; nothing when the region switched the rule off."""

from __future__ import annotations

from dualchannel.monitoring.rules import rules_for
from dualchannel.monitoring.services import alert_raise_independent
from dualchannel.registry.models import Institution

from .. import error_codes as codes
from .counter_checks import Check

RULE = "price_over_standard"


def price_attempt_alert(refusals: list[Check], prescription_id: int, pharmacy: Institution) -> None:
    """Raise (or count again) the prescription's attempted-price alert when the counter refuses
    a line priced above the payment standard."""
    refused = [c for c in refusals if c.code == codes.PRICE_ABOVE_STANDARD]
    if not refused:
        return
    rule = rules_for(pharmacy.region).get(RULE)
    if rule is None or not rule.enabled:
        return
    alert_raise_independent(
        rule=RULE,
        severity=rule.severity,
        institution=pharmacy.pk,
        subject=("prescriptions.Prescription", prescription_id),
        evidence={"prescription_ids": [prescription_id], "attempted_lines": len(refused)},
    )
