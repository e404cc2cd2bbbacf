import logging

from django.apps import AppConfig
from django.core import checks

logger = logging.getLogger("dualchannel.simulators")


class SimulatorsConfig(AppConfig):
    """The national platform and e-prescription centre simulators: demo and tests only.

    Installed (settings) and routed (``config.urls``) only when ``SIMULATORS_ENABLED``, which
    defaults to on in DEMO_MODE and tests and off elsewhere.
    """

    name = "dualchannel.simulators"
    label = "simulators"
    verbose_name = "模拟医保平台与电子处方中心（仅演示与测试）"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from dualchannel.integration.in_process import in_process_register
        from dualchannel.payments.in_process import (
            SimulatedProvider,
            simulated_provider_register,
        )

        from . import platform, rxcentre, wxpay, wxpay_wire
        from .checks import (
            PRODUCTION_HINT,
            PRODUCTION_WARNING,
            in_production,
            simulators_in_production,
        )
        from .rxcentre import rxcentre_register_stock_hook
        from .stock import inventory_stock

        checks.register(simulators_in_production)
        # integration (a floor below) calls these when no platform / centre address is set.
        in_process_register("nhsa", platform.handle)
        in_process_register("rxcentre", rxcentre.handle)
        # payments (a floor below) pays through this when no provider address is set.
        simulated_provider_register(
            "wechatpay", SimulatedProvider(wxpay.transport, wxpay_wire.credentials)
        )
        # The simulated e-prescription centre answers stock queries from our inventory.
        rxcentre_register_stock_hook(inventory_stock)
        if in_production():
            logger.warning("SECURITY: %s %s", PRODUCTION_WARNING, PRODUCTION_HINT)
