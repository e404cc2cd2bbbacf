"""Stable codes of the eligibility app's refusals (messages are Chinese, at the raise site)."""

PATIENT_NOT_FOUND = "eligibility.patient_not_found"
NO_CRITERIA = "eligibility.no_criteria"
NOT_PHYSICIAN = "eligibility.not_physician"
NOT_OWN_APPLICATION = "eligibility.not_own_application"
HOSPITAL_NOT_DESIGNATED = "eligibility.hospital_not_designated"
PHYSICIAN_NOT_DESIGNATED = "eligibility.physician_not_designated"
PHYSICIAN_SUSPENDED = "eligibility.physician_suspended"  # CX art. 20: failed annual assessment
BENEFITS_NOT_IN_FORCE = "eligibility.benefits_not_in_force"  # HB art. 2, CX art. 5
PHARMACY_REQUIRED = "eligibility.pharmacy_required"
PHARMACY_NOT_DESIGNATED = "eligibility.pharmacy_not_designated"
TREATING_NOT_ALLOWED = "eligibility.treating_not_allowed"
TREATING_INVALID = "eligibility.treating_invalid"
DUPLICATE = "eligibility.duplicate"
DRUG_NOT_FOUND = "eligibility.drug_not_found"
INVALID_DIAGNOSIS = "eligibility.invalid_diagnosis"
UNKNOWN_DIAGNOSIS = "eligibility.unknown_diagnosis"
UNKNOWN_CRITERION = "eligibility.unknown_criterion"
WRONG_STATUS = "eligibility.wrong_status"
TRANSITION = "eligibility.transition"
INELIGIBLE = "eligibility.ineligible"
UNANSWERED = "eligibility.unanswered"
PLAN_REQUIRED = "eligibility.plan_required"
INVALID_PLAN = "eligibility.invalid_plan"
MATERIAL_NOT_REQUESTED = "eligibility.material_not_requested"
UNKNOWN_MATERIAL_KIND = "eligibility.unknown_material_kind"
BAD_FILE_TYPE = "eligibility.bad_file_type"
FILE_TOO_LARGE = "eligibility.file_too_large"
EMPTY_FILE = "eligibility.empty_file"
TEXT_TOO_LONG = "eligibility.text_too_long"
MATERIAL_ALREADY_CHECKED = "eligibility.material_already_checked"
NOTE_REQUIRED = "eligibility.note_required"
KINDS_REQUIRED = "eligibility.kinds_required"
UNVERIFIED_MATERIALS = "eligibility.unverified_materials"
REASON_REQUIRED = "eligibility.reason_required"
REEVALUATION_NOT_OPEN = "eligibility.reevaluation_not_open"
REEVALUATION_CLOSED = "eligibility.reevaluation_closed"
INVALID_RESULT = "eligibility.invalid_result"
ASSESSMENT_REQUIRED = "eligibility.assessment_required"
HIS_CHANGED = "eligibility.his_changed"  # the application changed while its HIS data was fetched
ID_NUMBER_NOT_ALLOWED = "eligibility.id_number_not_allowed"  # full ID only for the case's roles
PLAN_EXCEEDED = "eligibility.plan_exceeded"  # a dispensing would pass the treatment plan's total
PLAN_QUANTITY_INVALID = "eligibility.plan_quantity_invalid"  # a negative quantity to use or release
# HB art. 12: revocation for fraud
REVOCATION_INVALID_KIND = "eligibility.revocation_invalid_kind"
REVOCATION_INVALID_DATE = "eligibility.revocation_invalid_date"
NOT_OFFICER = "eligibility.not_officer"
# HB art. 49: import of the region's existing register
IMPORT_EMPTY = "eligibility.import_empty"
IMPORT_BAD_FILE = "eligibility.import_bad_file"
IMPORT_ROWS = "eligibility.import_rows"  # one or more rows refused; fields name each row
IMPORT_TOO_MANY = "eligibility.import_too_many"
# HB art. 50: transfer with the insurance relation
TRANSFER_NO_LIVE = "eligibility.transfer_no_live"
