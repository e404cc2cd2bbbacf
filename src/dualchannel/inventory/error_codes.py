"""Stable machine codes of inventory refusals and warnings (messages are Chinese)."""

# Refusals
NOT_A_PHARMACY = "inventory.not_a_pharmacy"
STOCK_ITEM_NOT_FOUND = "inventory.stock_item_not_found"
MOVEMENT_NOT_FOUND = "inventory.movement_not_found"
DRUG_NOT_FOUND = "inventory.drug_not_found"
# The drug has no national code (医疗目录编码): the platform refuses its 3503/3505 records.
DRUG_WITHOUT_NATIONAL_CODE = "inventory.drug_without_national_code"
INVALID_FIELD = "inventory.invalid_field"
INVALID_QUANTITY = "inventory.invalid_quantity"
BATCH_EXPIRED = "inventory.batch_expired"
BATCH_MISMATCH = "inventory.batch_mismatch"
BATCH_WRONG_DRUG = "inventory.batch_wrong_drug"
INSUFFICIENT_STOCK = "inventory.insufficient_stock"
TRACE_CODE_INVALID = "inventory.trace_code_invalid"
TRACE_CODE_COUNT = "inventory.trace_code_count"
TRACE_CODE_DUPLICATE = "inventory.trace_code_duplicate"
TRACE_CODE_SOLD = "inventory.trace_code_sold"
TRACE_CODE_WRONG_DRUG = "inventory.trace_code_wrong_drug"
TRACE_CODE_WRONG_BATCH = "inventory.trace_code_wrong_batch"
TRACE_CODE_NOT_IN_STOCK = "inventory.trace_code_not_in_stock"
TRACE_CODE_NOT_IN_SALE = "inventory.trace_code_not_in_sale"
RETURN_EXCEEDS_SALE = "inventory.return_exceeds_sale"
NOT_A_SALE = "inventory.not_a_sale"
DONOR_REQUIRED = "inventory.donor_required"
IDEMPOTENCY_MISMATCH = "inventory.idempotency_mismatch"
UPLOAD_TRANSITION = "inventory.upload_transition"
UPLOAD_NOT_RETRYABLE = "inventory.upload_not_retryable"

# Warnings (returned with the result, never raised)
WARN_TRACE_CODE_NONSTANDARD = "inventory.trace_code_nonstandard"
WARN_TRACE_CODE_UNKNOWN = "inventory.trace_code_unknown"
WARN_TRACE_CODE_PREFIX_OTHER_DRUG = "inventory.trace_code_prefix_other_drug"
WARN_STOCKTAKE_CODES_EXCEED = "inventory.stocktake_codes_exceed"
WARN_STOCKTAKE_CODES_SHORT = "inventory.stocktake_codes_short"

# Alert rules raised by inventory (monitoring.Alert.rule)
RULE_TRACE_CODE_RESOLD = "trace_code_resold"
RULE_TRACE_CODE_DUPLICATE = "trace_code_duplicate"

# Holds for online orders (inventory.holds)
HOLD_INSUFFICIENT = "inventory.hold_insufficient"
HOLD_INVALID = "inventory.hold_invalid"
