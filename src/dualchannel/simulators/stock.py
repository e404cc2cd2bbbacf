"""The simulated e-prescription centre's stock query (rxSetlStockQuery), answered from this
platform's own inventory; ``SimulatorsConfig.ready`` registers it with the simulator."""

from __future__ import annotations

from dualchannel.catalog.models import Drug
from dualchannel.inventory.selectors import stock_status
from dualchannel.registry.models import Institution


def inventory_stock(fixmedins_code: str, wanted: dict) -> str:
    """Whether the pharmacy holds ``wanted`` ({code: qty}): "1" all, "0" part, "-1" none."""

    pharmacy = Institution.objects.filter(platform_code=fixmedins_code).first()
    if pharmacy is None:
        return "-1"
    drugs = dict(
        Drug.objects.filter(national_code__in=list(wanted)).values_list("national_code", "pk")
    )
    by_drug = {drugs[code]: int(qty) for code, qty in wanted.items() if code in drugs}
    return {"all": "1", "partly": "0"}.get(stock_status(pharmacy, by_drug), "-1")
