"""Stable machine codes of monitoring refusals (messages are Chinese, at the raise site)."""

ALERT_NOT_FOUND = "monitoring.alert_not_found"
ALERT_TRANSITION = "monitoring.alert_transition"
INVALID_ALERT = "monitoring.invalid_alert"
NOTE_REQUIRED = "monitoring.note_required"
