"""The eligibility's business actions, one module per sub-domain.

``applications`` (draft, answers, check, plan, submit), ``review`` (the reviewer's request,
approval, rejection; the withdrawal), ``materials`` (uploads, scans, verification),
``reevaluation`` (re-evaluation, stop), ``reevaluation_deadlines`` (reminders, suspension,
alerts), ``plan`` (the treatment plan's used quantity, for other apps), ``revocation`` (revoked
for fraud [HB art. 12]), ``register_import`` (the region's existing register [HB art. 49]),
``transfer`` (with the person's insurance relation [HB art. 50]), ``filing_requests`` (the
patient's own request [HB art. 7(1)(3)]); ``common`` holds what
they share beside ``eligibility.workflow``. The names callers use are re-exported here.
"""

from . import register_import
from .applications import (
    CheckResult,
    application_answer,
    application_check,
    application_create,
    application_set_plan,
    application_submit,
    submission_blockers,
)
from .filing_requests import (
    PatientFile,
    filing_request_complete,
    filing_request_decline,
    filing_request_submit,
    filing_request_take,
    filing_request_withdraw,
)
from .plan import eligibility_plan_release, eligibility_plan_use
from .review import (
    application_approve,
    application_reject,
    application_request_materials,
    application_withdraw,
)
from .revocation import (
    EvidenceFile,
    Revocation,
    eligibility_revoke,
    lock_eligibility_for_officer,
    revocation_checked,
)
from .transfer import Transfer, eligibility_transfer_with_person

__all__ = [
    "CheckResult",
    "EvidenceFile",
    "PatientFile",
    "Revocation",
    "Transfer",
    "application_answer",
    "application_approve",
    "application_check",
    "application_create",
    "application_reject",
    "application_request_materials",
    "application_set_plan",
    "application_submit",
    "application_withdraw",
    "eligibility_plan_release",
    "eligibility_plan_use",
    "eligibility_revoke",
    "eligibility_transfer_with_person",
    "filing_request_complete",
    "filing_request_decline",
    "filing_request_submit",
    "filing_request_take",
    "filing_request_withdraw",
    "lock_eligibility_for_officer",
    "register_import",
    "revocation_checked",
    "submission_blockers",
]
