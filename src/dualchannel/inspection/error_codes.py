"""Stable machine codes of inspection refusals (messages are Chinese, at the raise site)."""

NOT_FOUND = "inspection.not_found"
REGION_OUT_OF_SCOPE = "inspection.region_out_of_scope"
INVALID_SPOT_CHECK = "inspection.invalid_spot_check"
NO_CASES = "inspection.no_cases"
SPOT_CHECK_TRANSITION = "inspection.spot_check_transition"
CASES_UNCHECKED = "inspection.cases_unchecked"
