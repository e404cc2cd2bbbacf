"""Stable codes of the prescriptions app's refusals (messages are Chinese, at the raise site)."""

# issuing
NOT_PHYSICIAN = "prescriptions.not_physician"
NOT_DESIGNATED = "prescriptions.not_designated"
PHYSICIAN_SUSPENDED = "prescriptions.physician_suspended"  # CX art. 20: failed annual assessment
TITLE_BELOW_MINIMUM = "prescriptions.title_below_minimum"
BOUND_PHYSICIAN = "prescriptions.bound_physician"  # HB art. 6: three-fixed binds the physician
BENEFITS_NOT_IN_FORCE = "prescriptions.benefits_not_in_force"  # HB art. 2, CX art. 5
PATIENT_NOT_FOUND = "prescriptions.patient_not_found"
ELIGIBILITY_REQUIRED = "prescriptions.eligibility_required"
ELIGIBILITY_INACTIVE = "prescriptions.eligibility_inactive"
REEVALUATION_DUE = "prescriptions.reevaluation_due"
SEPARATELY_PAID_NEEDS_ELIGIBILITY = "prescriptions.separately_paid_needs_eligibility"
NOT_DUAL_CHANNEL = "prescriptions.not_dual_channel"
SPECIAL_CONTROL = "prescriptions.special_control"
DRUG_NOT_IN_ELIGIBILITY = "prescriptions.drug_not_in_eligibility"
INVALID_ITEMS = "prescriptions.invalid_items"
UNIT_MISMATCH = "prescriptions.unit_mismatch"
OVER_PLAN = "prescriptions.over_plan"
LONG_NOT_ALLOWED = "prescriptions.long_not_allowed"
TOO_MANY_DAYS = "prescriptions.too_many_days"
INVALID_BENEFIT_TYPE = "prescriptions.invalid_benefit_type"
INVALID_DIAGNOSIS = "prescriptions.invalid_diagnosis"
TRANSITION = "prescriptions.transition"
RX_CENTRE_TRANSITION = "prescriptions.rx_centre_transition"  # not a step the centre run takes
REASON_REQUIRED = "prescriptions.reason_required"
# circulation
CONSENT_REQUIRED = "prescriptions.consent_required"
PHARMACY_NOT_ALLOWED = "prescriptions.pharmacy_not_allowed"
BOUND_PHARMACY = "prescriptions.bound_pharmacy"
FILING_PHARMACY_REQUIRED = "prescriptions.filing_pharmacy_required"
# the counter: every refusal has a code shown with its Chinese reason
RX_NOT_FOUND = "counter.rx_not_found"
RX_EXPIRED = "counter.rx_expired"
RX_USED = "counter.rx_used"
RX_CANCELLED = "counter.rx_cancelled"
RX_NOT_ROUTED_HERE = "counter.rx_other_pharmacy"
PERSON_MISMATCH = "counter.person_mismatch"
CERT_TYPE_INVALID = "counter.cert_type_invalid"
CARD_SN_REQUIRED = "counter.card_sn_required"
AGENT_INCOMPLETE = "counter.agent_incomplete"
AGENT_INVALID_ID = "counter.agent_invalid_id"
AGENT_INVALID_PHONE = "counter.agent_invalid_phone"
AGENT_SIGNATURE_REQUIRED = "counter.agent_signature_required"
ELIGIBILITY_NOT_ACTIVE = "counter.eligibility_inactive"
QUANTITY_OVER_PLAN = "counter.quantity_over_plan"
EARLY_REFILL = "counter.early_refill"
PRICE_ABOVE_STANDARD = "counter.price_above_standard"
NO_PAYMENT_STANDARD = "counter.no_payment_standard"
PURCHASE_PRICE_MISSING = "counter.purchase_price_missing"  # CX art. 14(2)
DRUG_NOT_IN_FORCE = "counter.drug_not_in_force"  # SD §1, CX art. 4: a warning, paid in full
LINES_INVALID = "counter.lines_invalid"
BATCH_WRONG_DRUG = "counter.batch_wrong_drug"
IDEMPOTENCY_MISMATCH = "counter.idempotency_mismatch"
IDEMPOTENCY_KEY_REQUIRED = "counter.idempotency_key_required"
DELIVERY_INVALID = "counter.delivery_invalid"
COLD_CHAIN_REQUIRED = "counter.cold_chain_required"
# delivery after the counter (prescriptions.delivery)
DELIVERY_TRANSITION = "counter.delivery_transition"  # not the next step of this delivery
DELIVERY_WRONG_MODE = "counter.delivery_wrong_mode"  # a step this mode does not have
DELIVERY_STATUS_INVALID = "counter.delivery_status_invalid"
HANDOVER_RECORD_REQUIRED = "counter.handover_record_required"  # HB art. 29
HANDOVER_TIME_INVALID = "counter.handover_time_invalid"
DISPENSING_NOT_FOUND = "counter.dispensing_not_found"
ID_NUMBER_NOT_ALLOWED = "prescriptions.id_number_not_allowed"  # full ID only for whom it concerns
