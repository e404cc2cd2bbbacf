"""Setup for eligibility tests: a designated hospital, physician and pharmacy under the Hubei
profile, a drug with published criteria, and insured persons known to the demo HIS."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from dualchannel.catalog.models import CriteriaStatus
from dualchannel.catalog.tests.factories import DrugFactory, lung_cancer_set
from dualchannel.registry.identifiers import synthetic_id_number
from dualchannel.registry.models import DesignationStatus, Sex
from dualchannel.registry.tests.factories import (
    DesignationFactory,
    InsuredPersonFactory,
    PhysicianFactory,
    designate,
)

REQUIRED_KINDS = ["pathology", "gene_test", "diagnosis_certificate"]


def designated_physician(user, **kwargs):
    """The Physician row of a physician user, actively designated, at an active hospital."""
    hospital = user.institution
    if not hospital.designations.filter(status=DesignationStatus.ACTIVE).exists():
        designate(hospital)
    physician = PhysicianFactory(user=user, hospital=hospital, name="李医生", **kwargs)
    DesignationFactory(institution=None, physician=physician, status=DesignationStatus.ACTIVE)
    return physician


def drug_with_criteria(**kwargs):
    """An ALK inhibitor with the published national lung-cancer set (HIS-checkable)."""
    drug = DrugFactory(**kwargs)
    criteria_set = lung_cancer_set(
        drug=drug,
        status=CriteriaStatus.PUBLISHED,
        evaluation_cycle_days=90,
        required_material_kinds=list(REQUIRED_KINDS),
    )
    return drug, criteria_set


def demo_his_person(name: str, birth: date, serial: int, male: bool, **kwargs):
    """An insured person with the ID number and name the demo HIS has (registry.identifiers)."""
    return InsuredPersonFactory(
        name=name,
        birth_date=birth,
        sex=Sex.MALE if male else Sex.FEMALE,
        id_number=synthetic_id_number("420102", birth, serial, male),
        address="武汉市江岸区演示小区1栋",
        **kwargs,
    )


def zhang_wei():
    """ALK-positive lung cancer, every report in the hospital's system."""
    return demo_his_person("张伟", date(1962, 3, 14), 1, True)


def liu_fang():
    """HER2-positive breast cancer: not a lung-cancer patient."""
    return demo_his_person("刘芳", date(1975, 8, 2), 2, False)


PLAN = {
    "dose": "250mg",
    "frequency": "每日两次",
    "route": "口服",
    "total_quantity": Decimal("180"),
    "quantity_unit": "粒",
    "period_start": date(2026, 3, 2),
    "period_end": date(2026, 5, 31),
}
