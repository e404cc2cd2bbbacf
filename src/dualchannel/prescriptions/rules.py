"""Prescription rules that come from the policy profile, with the national rule as fallback.

- Validity: 处方管理办法（卫生部令第53号）第十八条 — a prescription is valid on the day it is
  issued and at most 3 days where the physician says so; a profile may set its own days.
- Days of supply: 第十九条 — normally at most 7 days, longer for chronic diseases; dual-channel
  drugs are for chronic and serious diseases, so 30 days is the ordinary ceiling here.
- Long prescriptions: only where the profile provides them [CX art. 21, 长期处方管理规范（试行）
  ≤ 12 weeks], and only for chronic patients (the chronic-disease and special-drug benefits).
- Early refill: a new dispensing of the same drug is refused while the previous supply has more
  than the tolerated number of days left.
- Prescribers: separately-paid drugs need the responsible physician [HB art. 6, 42]; other
  dual-channel drugs any 医保医师 where the profile says so [HB art. 13–15], else (the national
  default, AH annex 3(1), CX art. 20) the responsible physician too.
"""

from __future__ import annotations

from dualchannel.registry.models import PolicyProfile, PrescriberRule

from .models import BenefitType

NATIONAL_VALID_DAYS = 3
ORDINARY_MAX_DAYS = 30
NATIONAL_REFILL_TOLERANCE_DAYS = 7
LONG_PRESCRIPTION_BENEFITS = (BenefitType.SPECIAL_DRUG, BenefitType.CHRONIC_DISEASE)


def valid_days(profile: PolicyProfile | None) -> int:
    return (profile.prescription_valid_days if profile else None) or NATIONAL_VALID_DAYS


def long_prescription_max_days(profile: PolicyProfile | None) -> int | None:
    """None: the pooling area does not provide long prescriptions."""
    return profile.long_prescription_max_days if profile else None


def refill_tolerance_days(profile: PolicyProfile | None) -> int:
    value = profile.early_refill_tolerance_days if profile else None
    return NATIONAL_REFILL_TOLERANCE_DAYS if value is None else value


def responsible_physician_only(profile: PolicyProfile | None) -> bool:
    """True: every dual-channel prescription needs the responsible physician."""
    return profile is None or profile.prescriber_rule != PrescriberRule.INSURANCE_PHYSICIAN
