"""Stable machine codes of payment refusals (messages are Chinese)."""

ORDER_NOT_FOUND = "payments.order_not_found"
ORDER_TRANSITION = "payments.order_transition"
REFUND_TRANSITION = "payments.refund_transition"
INVALID_AMOUNT = "payments.invalid_amount"
INVALID_FIELD = "payments.invalid_field"
IDEMPOTENCY_MISMATCH = "payments.idempotency_mismatch"
UNKNOWN_PURPOSE = "payments.unknown_purpose"
UNKNOWN_PROVIDER = "payments.unknown_provider"
NOT_PAID = "payments.not_paid"
REFUND_EXCEEDS_PAID = "payments.refund_exceeds_paid"
PROVIDER_ERROR = "payments.provider_error"
# A callback refused: bad signature, stale timestamp, undecryptable, or facts that differ from
# the order (amount to the fen, merchant, out_trade_no).
NOTIFY_REFUSED = "payments.notify_refused"
NOT_CONFIGURED = "payments.not_configured"
