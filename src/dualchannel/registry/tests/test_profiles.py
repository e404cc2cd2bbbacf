from decimal import Decimal

import pytest

from dualchannel.core.errors import DomainError
from dualchannel.core.models import AuditEvent
from dualchannel.registry.models import (
    BindingMode,
    PaymentStandardRule,
    PolicyProfile,
    TitleRank,
)
from dualchannel.registry.profiles import load_profiles, profile_for
from dualchannel.registry.services import profile_update
from dualchannel.registry.tests.factories import region


def test_load_profiles_is_idempotent_and_repairs_drift(profiles):
    # given: someone changed a number by hand
    PolicyProfile.objects.filter(region_id="420000").update(exit_ban_months=6)

    # when
    result = load_profiles()

    # then
    assert (result.created, result.updated, result.unchanged) == (0, 1, 3)
    assert PolicyProfile.objects.get(region_id="420000").exit_ban_months == 24
    assert load_profiles().unchanged == 4


def test_every_shipped_value_has_a_citation_or_is_default(profiles):
    for profile in profiles.values():
        assert profile.source_document
        assert profile.citations, profile.name


def test_ah_s2_2_physician_title_associate_chief_relaxable_to_attending(profiles):
    ah = profiles["340000"]
    assert ah.physician_min_title == TitleRank.ASSOCIATE_CHIEF
    assert ah.physician_relaxed_title == TitleRank.ATTENDING
    assert ah.min_hospitals_per_county == 1 and ah.hospital_min_level == 2


def test_ah_s2_4_filing_form_binding(profiles):
    assert profiles["340000"].binding_mode == BindingMode.FILING_FORM


def test_ah_s2_5_deductible_counted_once_per_stay(profiles):
    assert profiles["340000"].deductible_once_per_stay is True


def test_ah_s2_6_pharmacy_spend_outside_hospital_budget(profiles):
    assert profiles["340000"].pharmacy_spend_outside_hospital_budget is True


def test_ah_s2_3_at_least_one_pharmacy_per_county(profiles):
    assert profiles["340000"].min_pharmacies_per_county == 1
    assert profiles["340000"].first_self_pay_ratio is None  # local


def test_hb_art6_three_fixed_binding(profiles):
    assert profiles["420000"].binding_mode == BindingMode.THREE_FIXED


def test_hb_art20_title_associate_chief_relaxable_to_attending(profiles):
    hb = profiles["420000"]
    assert hb.physician_min_title == TitleRank.ASSOCIATE_CHIEF
    assert hb.physician_relaxed_title == TitleRank.ATTENDING


def test_hb_art34_special_drug_outpatient_med_type_110202(profiles):
    assert profiles["420000"].special_drug_med_type == "110202"


def test_hb_art10_review_within_7_working_days(profiles):
    assert profiles["420000"].review_deadline_working_days == 7


def test_hb_art9_reevaluation_window_7_working_days(profiles):
    assert profiles["420000"].reevaluation_window_working_days == 7


def test_hb_art21_exit_bans_for_two_years(profiles):
    assert profiles["420000"].exit_ban_months == 24


def test_hb_art30_unified_payment_standard(profiles):
    assert profiles["420000"].payment_standard_rule == PaymentStandardRule.UNIFIED


def test_hb_art18_19_designation_conditions(profiles):
    hb = profiles["420000"]
    assert hb.hospital_min_level == 2 and hb.hospital_requires_pathology_or_gene
    assert hb.pharmacy_requires_biologics_licence and hb.pharmacy_requires_cold_chain
    assert hb.no_suspension_within_months == 12


def test_sd_s3_first_self_pay_at_most_20_percent(profiles):
    sd = profiles["370000"]
    assert sd.first_self_pay_ratio_max == Decimal("0.2000")
    assert sd.first_self_pay_ratio is None  # each city sets its own ratio


def test_sd_s6_pharmacy_stock_minimums_30_urban_20_county(profiles):
    sd = profiles["370000"]
    assert (sd.pharmacy_min_drugs_urban, sd.pharmacy_min_drugs_county) == (30, 20)


def test_sd_s5_at_least_one_pharmacy_per_county(profiles):
    assert profiles["370000"].min_pharmacies_per_county == 1
    assert profiles["370000"].physician_min_title is None


def test_cx_art20_attending_or_resident_in_level2_hospitals(profiles):
    cx = profiles["532300"]
    assert cx.physician_min_title == TitleRank.ATTENDING
    assert cx.physician_min_title_level2_hospital == TitleRank.RESIDENT


def test_cx_art14_pharmacy_carries_30_percent_of_negotiated_drugs(profiles):
    assert profiles["532300"].pharmacy_min_negotiated_ratio == Decimal("0.3000")
    assert profiles["532300"].pharmacy_requires_traceability


def test_cx_art10_payment_national_provincial_or_actual(profiles):
    assert (
        profiles["532300"].payment_standard_rule == PaymentStandardRule.NATIONAL_PROVINCIAL_ACTUAL
    )


def test_cx_art18_19_budget_and_inpatient_external_drugs(profiles):
    cx = profiles["532300"]
    assert cx.pharmacy_spend_outside_hospital_budget
    assert cx.inpatient_external_drugs_in_stay
    assert cx.exit_ban_months is None


def test_profile_for_resolves_through_ancestors(profiles):
    # a county without its own profile uses the province's (Wuhan 江岸区 → Hubei)
    assert profile_for(region("420102")).region_id == "420000"
    # a county of Chuxiong uses the prefecture's, not Yunnan's (Yunnan has none)
    assert profile_for(region("532322")).region_id == "532300"


def test_profile_for_region_without_any_profile_raises(profiles):
    with pytest.raises(DomainError) as exc:
        profile_for(region("530102"))  # 昆明五华区: no Yunnan profile
    assert exc.value.code == "registry.no_policy_profile"


def test_officer_creates_city_profile_that_overrides_the_province(profiles, agency_user):
    # when: the Wuhan agency relaxes the physician title for Wuhan [HB art. 20(1)]
    profile = profile_update(
        actor=agency_user,
        region=region("420100"),
        changes={"physician_relaxation_allowed": True},
    )

    # then
    assert profile.region_id == "420100"
    assert profile.exit_ban_months == 24  # copied from Hubei
    assert profile_for(region("420102")) == profile
    assert PolicyProfile.objects.get(region_id="420000").physician_relaxation_allowed is False
    event = AuditEvent.objects.get(action="registry.profile_updated")
    assert event.summary["created"] is True


def test_officer_cannot_update_a_profile_outside_their_region(profiles, agency_user):
    with pytest.raises(DomainError) as exc:
        profile_update(actor=agency_user, region=region("420000"), changes={"exit_ban_months": 1})
    assert exc.value.status == 404
    assert PolicyProfile.objects.get(region_id="420000").exit_ban_months == 24


def test_profile_update_refuses_bad_values_and_changes_nothing(profiles, admin_user):
    with pytest.raises(DomainError) as exc:
        profile_update(
            actor=admin_user, region=region("370000"), changes={"first_self_pay_ratio_max": "1.5"}
        )
    assert exc.value.code == "registry.invalid_profile_value"
    assert "first_self_pay_ratio_max" in exc.value.fields
    assert PolicyProfile.objects.get(region_id="370000").first_self_pay_ratio_max == Decimal("0.2")
    assert not AuditEvent.objects.filter(action="registry.profile_updated").exists()


def test_shandong_ships_its_monthly_table_due_day(profiles):
    # SD §10: 于每月 10 日前报送省医保局; no other seed asks for the table.
    shandong = PolicyProfile.objects.get(region_id="370000")

    assert shandong.monthly_table_due_day == 10
    assert "SD §10" in shandong.citations["monthly_table_due_day"]
    assert not PolicyProfile.objects.exclude(region_id="370000").filter(
        monthly_table_due_day__isnull=False
    )


@pytest.mark.parametrize("day", [0, 29, -1, "10"])
def test_a_due_day_outside_the_month_is_refused(profiles, admin_user, day):
    with pytest.raises(DomainError) as exc:
        profile_update(
            actor=admin_user, region=region("370000"), changes={"monthly_table_due_day": day}
        )

    assert exc.value.code == "registry.invalid_profile_value"
    assert PolicyProfile.objects.get(region_id="370000").monthly_table_due_day == 10
