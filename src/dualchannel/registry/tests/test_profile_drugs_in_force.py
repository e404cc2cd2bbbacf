"""Profile fields of the drugs in force and the sale price [SD §1, CX art. 4, 14(2)]: data, set
per pooling region by its agency, never a region check in code."""

from __future__ import annotations

import pytest

from dualchannel.core.errors import DomainError
from dualchannel.core.models import AuditEvent
from dualchannel.registry.models import PolicyProfile, SalePriceRule
from dualchannel.registry.services import profile_update
from dualchannel.registry.tests.factories import region


def test_cx_art14_2_chuxiong_sells_at_the_actual_purchase_price(profiles):
    """CX art. 14(2): 以实际采购价格作为销售价格; the other seeds keep the retail price."""
    assert profiles["532300"].sale_price_rule == SalePriceRule.PURCHASE_PRICE
    assert "CX art. 14(2)" in profiles["532300"].citations["sale_price_rule"]
    for code in ("340000", "420000", "370000"):
        assert profiles[code].sale_price_rule == SalePriceRule.RETAIL


def test_sd_s1_no_grace_is_shipped_the_agency_sets_it(profiles):
    """SD §1, CX art. 4: the seeds set no grace after an agreement period ends; it is left to the
    agency (null), and cited as such."""
    assert all(p.agreement_grace_days is None for p in profiles.values())
    assert "SD §1" in profiles["370000"].citations["agreement_grace_days"]


def test_a_city_agency_sets_its_own_grace(profiles, agency_user):
    """SD §1: the city's agency (Wuhan) sets the grace for its pooling region; the province's
    profile is untouched, and the change is audited."""
    profile = profile_update(
        actor=agency_user, region=region("420100"), changes={"agreement_grace_days": 30}
    )

    assert profile.region_id == "420100" and profile.agreement_grace_days == 30
    assert PolicyProfile.objects.get(region_id="420000").agreement_grace_days is None
    assert AuditEvent.objects.filter(action__startswith="registry.profile").exists()


def test_bad_profile_values_are_refused(profiles, agency_user):
    """Bad input: a negative grace or an unknown sale price rule is refused, nothing written."""
    for changes in ({"agreement_grace_days": -1}, {"sale_price_rule": "cheapest"}):
        with pytest.raises(DomainError) as refused:
            profile_update(actor=agency_user, region=region("420100"), changes=changes)
        assert refused.value.code == "registry.invalid_profile_value"
    assert not PolicyProfile.objects.filter(region_id="420100").exists()
