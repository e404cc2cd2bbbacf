"""Settlement's business actions, one module per sub-domain (docs/conventions.md):

- ``counter``: a pharmacy counter's pre-settle, settle and reversal (2101–2103; 2208 too);
- ``hospital``: the hospital outpatient desk's pre-settle and settle (2206, 2207);
- ``hospital_stay``: the hospital's inpatient bill settled against the stay, with the pharmacy's
  purchases billed to it [AH §2(5), CX art. 19];
- ``claims``, ``claim_decisions``: manual (零星) claims, submitted and decided at the agency;
- ``batches``: monthly batches (prepare, apply, review) and the budget report;
- ``reconcile``: a batch's reconciliation with the platform (3201, 3202);
- ``recovery``: violations found after the fact and the recovery orders they raise, deducted
  from the institution's next monthly batch [HB art. 21–22, 31(6); CX art. 13];
- ``revocation``: an eligibility revoked for fraud and the recovery of what was paid under it,
  in one transaction [HB art. 12];
- ``online``, ``online_paid``: an online order's personal part paid on the phone: pre-settled
  from the held boxes, settled when a delivery ships or a pick-up order's counter settles
  (``settlement_settle_at_counter``), refunded when reversed;
- ``rollup_marks``: which settlements and reversals analytics' rollups have taken in (issue 13);
- ``common``: what those share to price, record and accumulate a settlement the same way.

The names callers use are re-exported here: ``from dualchannel.settlement import services``.
"""

from .batches import batch_apply, batch_prepare, batch_review, budget_report
from .claim_decisions import claim_decide
from .claims import claim_receipt_open, claim_submit
from .common import (
    ACCUMULATED_KINDS,
    BREAKDOWN_FIELDS,
    Priced,
    PricedLine,
    add_used,
    benefit_scopes,
    breakdown_of,
    budget_line_for,
    lock_person,
    locked_accumulators,
    require_benefits,
    write_settlement,
)
from .counter import (
    SelfPaySale,
    self_pay_sale,
    settlement_preview,
    settlement_reverse,
    settlement_settle,
    stay_charge_record,
)
from .hospital import hospital_preview, hospital_settle
from .hospital_stay import stay_bill_preview, stay_bill_settle
from .online import settlement_settle_at_counter
from .reconcile import batch_reconcile
from .recovery import (
    recovery_cancel,
    recovery_raise_for_settlements,
    violation_record,
    violation_rerun,
)
from .revocation import RevocationResult, eligibility_revoke_for_fraud
from .rollup_marks import settlements_clear_rolled_up, settlements_mark_rolled_up

__all__ = [
    "ACCUMULATED_KINDS",
    "BREAKDOWN_FIELDS",
    "Priced",
    "PricedLine",
    "RevocationResult",
    "SelfPaySale",
    "add_used",
    "batch_apply",
    "batch_prepare",
    "batch_reconcile",
    "batch_review",
    "benefit_scopes",
    "breakdown_of",
    "budget_line_for",
    "budget_report",
    "claim_decide",
    "claim_receipt_open",
    "claim_submit",
    "eligibility_revoke_for_fraud",
    "hospital_preview",
    "hospital_settle",
    "lock_person",
    "locked_accumulators",
    "recovery_cancel",
    "recovery_raise_for_settlements",
    "require_benefits",
    "self_pay_sale",
    "settlement_preview",
    "settlement_reverse",
    "settlement_settle",
    "settlement_settle_at_counter",
    "settlements_clear_rolled_up",
    "settlements_mark_rolled_up",
    "stay_bill_preview",
    "stay_bill_settle",
    "stay_charge_record",
    "violation_record",
    "violation_rerun",
    "write_settlement",
]
