"""A local simulator of the national medical-insurance information platform."""
