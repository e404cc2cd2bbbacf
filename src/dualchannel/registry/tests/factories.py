"""Factories for registry rows, producing valid ID numbers and credit codes."""

from __future__ import annotations

import itertools
from datetime import date

import factory
from stdnum.cn import ric, uscc

from dualchannel.catalog.models import Drug, ListEdition
from dualchannel.registry.models import (
    DesignationStatus,
    InstitutionKind,
    InsuranceType,
    PolicyProfile,
    Region,
    RegionLevel,
    Sex,
    TitleRank,
)
from dualchannel.registry.profiles import load_profiles

_serial = itertools.count(1)


def make_credit_code(region_code: str, serial: int) -> str:
    """A unified social credit code with a correct check character (12 = public institution)."""
    body = f"12{region_code}{serial:09d}"
    return body + uscc.calc_check_digit(body)


def make_id_number(region_code: str, birth: date, serial: int, sex: str = Sex.MALE) -> str:
    """An 18-character resident ID number with a correct MOD 11-2 check character."""
    seq = serial % 100
    sex_digit = 1 if sex == Sex.MALE else 2  # odd: male, even: female
    body = f"{region_code}{birth:%Y%m%d}{seq:02d}{sex_digit}"
    # stdnum's calc_check_digit expects the number *with* a check position.
    return body + ric.calc_check_digit(body + "0")


REGIONS = {
    "420000": ("湖北省", RegionLevel.PROVINCE, None, False),
    "420100": ("武汉市", RegionLevel.CITY, "420000", False),
    "420102": ("江岸区", RegionLevel.COUNTY, "420100", True),
    "420106": ("武昌区", RegionLevel.COUNTY, "420100", True),
    "420115": ("江夏区", RegionLevel.COUNTY, "420100", True),
    # another pooling region of Hubei, and a province elsewhere (out-of-area, HB art. 40–41)
    "420500": ("宜昌市", RegionLevel.CITY, "420000", False),
    "420502": ("西陵区", RegionLevel.COUNTY, "420500", True),
    "110000": ("北京市", RegionLevel.PROVINCE, None, False),
    "340000": ("安徽省", RegionLevel.PROVINCE, None, False),
    "340100": ("合肥市", RegionLevel.CITY, "340000", False),
    "340102": ("瑶海区", RegionLevel.COUNTY, "340100", True),
    "340121": ("长丰县", RegionLevel.COUNTY, "340100", False),
    "340200": ("芜湖市", RegionLevel.CITY, "340000", False),
    "340202": ("镜湖区", RegionLevel.COUNTY, "340200", True),
    "370000": ("山东省", RegionLevel.PROVINCE, None, False),
    "370100": ("济南市", RegionLevel.CITY, "370000", False),
    "370102": ("历下区", RegionLevel.COUNTY, "370100", True),
    "370124": ("平阴县", RegionLevel.COUNTY, "370100", False),
    "530000": ("云南省", RegionLevel.PROVINCE, None, False),
    "530100": ("昆明市", RegionLevel.CITY, "530000", False),
    "530102": ("五华区", RegionLevel.COUNTY, "530100", True),
    "532300": ("楚雄彝族自治州", RegionLevel.CITY, "530000", False),
    "532301": ("楚雄市", RegionLevel.COUNTY, "532300", False),
    "532322": ("双柏县", RegionLevel.COUNTY, "532300", False),
}


def region(code: str):
    """Get or create a region (and its ancestors) from the small table above."""

    name, level, parent_code, urban = REGIONS[code]
    parent = region(parent_code) if parent_code else None
    obj, _ = Region.objects.get_or_create(
        code=code,
        defaults={
            "name": name,
            "level": level,
            "parent": parent,
            "is_urban_district": urban,
            "is_county_level": level == RegionLevel.COUNTY,
        },
    )
    return obj


class InstitutionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "registry.Institution"

    class Params:
        region_code = "420102"

    kind = InstitutionKind.HOSPITAL
    name = factory.Sequence(lambda n: f"测试机构{n}")
    region = factory.LazyAttribute(lambda o: region(o.region_code))
    credit_code = factory.LazyAttribute(lambda o: make_credit_code(o.region_code, next(_serial)))
    hospital_level = factory.LazyAttribute(
        lambda o: 3 if o.kind == InstitutionKind.HOSPITAL else None
    )


class PhysicianFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "registry.Physician"

    hospital = factory.SubFactory(InstitutionFactory)
    name = factory.Sequence(lambda n: f"医师{n}")
    staff_code = factory.Sequence(lambda n: f"D420102{n:06d}")
    department = "肿瘤科"
    title = TitleRank.ASSOCIATE_CHIEF
    practising_certificate_no = factory.Sequence(lambda n: f"1104201{n:08d}")


class PharmacistFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "registry.Pharmacist"

    pharmacy = factory.SubFactory(InstitutionFactory, kind=InstitutionKind.PHARMACY)
    name = factory.Sequence(lambda n: f"药师{n}")
    practising_certificate_no = factory.Sequence(lambda n: f"ZY42{n:08d}")


class InsuredPersonFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "registry.InsuredPerson"

    class Params:
        region_code = "420102"

    name = factory.Sequence(lambda n: f"参保人{n}")
    sex = Sex.MALE
    birth_date = date(1970, 5, 17)
    id_number = factory.LazyAttribute(
        lambda o: make_id_number(o.region_code, o.birth_date, next(_serial), o.sex)
    )
    phone = factory.Sequence(lambda n: f"139{n:08d}")
    insurance_type = InsuranceType.EMPLOYEE
    enrolment_region = factory.LazyAttribute(lambda o: region(o.region_code))
    person_no = factory.Sequence(lambda n: f"42010200000{n:08d}")


class DesignationFactory(factory.django.DjangoModelFactory):
    """A designation row in any status (test setup only; services move real ones)."""

    class Meta:
        model = "registry.Designation"

    institution = factory.SubFactory(InstitutionFactory)
    physician = None
    status = DesignationStatus.APPLIED


def designate(institution, status=DesignationStatus.ACTIVE):
    """Give an institution a designation in ``status`` directly (setup for other tests)."""
    return DesignationFactory(institution=institution, status=status)


def qualified_pharmacy(**kwargs):
    """A pharmacy that meets every profile's conditions [HB art. 19, CX art. 14]."""
    values = {
        "kind": InstitutionKind.PHARMACY,
        "hospital_level": None,
        "has_biologics_licence": True,
        "has_cold_chain": True,
        "traceability_enabled": True,
        "realtime_settlement": True,
        "e_prescription_connected": True,
    }
    values.update(kwargs)
    return InstitutionFactory(**values)


def qualified_hospital(**kwargs):
    """A level-3 hospital with pathology and gene testing [HB art. 18]."""
    values = {
        "kind": InstitutionKind.HOSPITAL,
        "hospital_level": 3,
        "has_pathology": True,
        "has_gene_testing": True,
    }
    values.update(kwargs)
    return InstitutionFactory(**values)


def make_drug(generic_name: str = "奥希替尼", pinyin_initials: str = "axtn", **kwargs):
    """A catalogue drug with its list edition (the catalog app owns the real import)."""

    edition, _ = ListEdition.objects.get_or_create(
        code="test-2025",
        defaults={
            "title": "国家医保药品目录（2025年，测试）",
            "document_no": "医保发〔2025〕33号",
            "effective_from": date(2026, 1, 1),
            "source_sha256": "0" * 64,
        },
    )
    values = {
        "generic_name": generic_name,
        "pinyin_initials": pinyin_initials,
        "category_code": "XL01",
        "drug_class": "乙",
        "section": "negotiated_western",
        "list_no": Drug.objects.count() + 1,
        "edition": edition,
    }
    values.update(kwargs)
    return Drug.objects.create(**values)


def load_seed_profiles():
    """The four shipped profiles on a small region table (their regions and a few children)."""

    for code in ("340102", "340121", "420102", "420106", "370102", "370124", "532301", "532322"):
        region(code)
    load_profiles()
    return {p.region_id: p for p in PolicyProfile.objects.all()}
