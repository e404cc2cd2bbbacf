"""Roles a user can hold, and the institution kinds they belong to."""

from django.db import models


class Role(models.TextChoices):
    PHYSICIAN = "physician", "责任医师"
    REVIEWER = "reviewer", "医院医保办审核员"
    PHARMACIST = "pharmacist", "药师"
    AGENCY_OFFICER = "agency_officer", "医保经办人员"
    PATIENT = "patient", "参保患者"
    ADMIN = "admin", "系统管理员"


# Which institution kind a role works for; patients and admins belong to none.
ROLE_INSTITUTION_KIND = {
    Role.PHYSICIAN: "hospital",
    Role.REVIEWER: "hospital",
    Role.PHARMACIST: "pharmacy",
    Role.AGENCY_OFFICER: "agency",
}
