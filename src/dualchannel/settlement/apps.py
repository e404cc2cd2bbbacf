from django.apps import AppConfig


class SettlementConfig(AppConfig):
    name = "dualchannel.settlement"
    label = "settlement"
    verbose_name = "医保结算"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from dualchannel.core import refcache

        # reference data the counter reads on every request, cached per worker (core.refcache)
        refcache.watch(self.get_model("BenefitRule"))

        from dualchannel.monitoring.engine import detector_register
        from dualchannel.monitoring.evidence import reference_register
        from dualchannel.monitoring.services import finding_recorder_register
        from dualchannel.prescriptions.counter_sections import counter_result_section_register
        from dualchannel.prescriptions.services.online_payment import personal_pricing_register

        from . import tasks  # noqa: F401  (registers the job handlers)
        from .alert_references import REFERENCES
        from .models import FindingKind
        from .services.online import (
            online_order_quote,
            online_order_settle,
            online_personal_now,
        )
        from .services.recovery import finding_from_alert
        from .surveillance import DETECTORS
        from .views import counter_settlement_context

        # Monitoring sits below settlement: its purchase and settlement rules are handed down,
        # and confirming an alert records the finding here (recovery orders follow).
        for key, detector in DETECTORS.items():
            detector_register(key, detector)
        finding_recorder_register(finding_from_alert, FindingKind.choices)
        for kind, reference in REFERENCES.items():
            reference_register(kind, reference)

        # The counter's result page (prescriptions, a floor below) shows the settlement part.
        counter_result_section_register(
            template="settlement/_counter.html", context=counter_settlement_context
        )

        # An online order's personal part is paid on the phone (prescriptions, a floor below):
        # its pre-settlement of the held boxes, its settlement when it ships, and the counter's
        # 2101 a paid pick-up order is checked against when it is dispensed.
        personal_pricing_register(
            quote=online_order_quote, settle=online_order_settle, personal_now=online_personal_now
        )
