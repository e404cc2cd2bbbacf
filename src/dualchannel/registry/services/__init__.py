"""The only writers of the registry: one transaction each, locked, checked, audited.

One module per sub-domain: ``institutions`` (institutions and their equipped drugs),
``designations`` (apply and move a designation), ``people`` (physicians, pharmacists, insured
persons), ``profiles`` (a region's policy profile), ``enrolment`` (transfer of
the insurance relation [HB art. 50]); ``common`` holds their shared checks. The
names callers use are re-exported here.
"""

from .designations import designation_apply, designation_transition
from .enrolment import insured_person_transfer
from .institutions import (
    equipped_drug_add,
    equipped_drug_remove,
    institution_create,
    institution_update,
)
from .out_of_area import out_of_area_filing_cancel, out_of_area_filing_create
from .people import (
    PlatformPerson,
    insured_person_create,
    insured_person_record_platform,
    insured_person_update,
    pharmacist_create,
    physician_assess,
    physician_file,
    physician_register,
)
from .profiles import profile_update
from .stays import filing_review_decide, filing_review_submit, stay_register

__all__ = [
    "PlatformPerson",
    "designation_apply",
    "designation_transition",
    "equipped_drug_add",
    "equipped_drug_remove",
    "filing_review_decide",
    "filing_review_submit",
    "institution_create",
    "institution_update",
    "insured_person_create",
    "insured_person_record_platform",
    "insured_person_transfer",
    "insured_person_update",
    "out_of_area_filing_cancel",
    "out_of_area_filing_create",
    "pharmacist_create",
    "physician_assess",
    "physician_file",
    "physician_register",
    "profile_update",
    "stay_register",
]
