"""The loud warning when the simulators run in a production deployment."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Warning

PRODUCTION_WARNING = (
    "The bundled simulators (dualchannel.simulators) are installed outside DEBUG / DEMO_MODE / "
    "tests: /simulators/nhsa/ and /simulators/rxcentre/ answer anyone without login or CSRF, "
    "including 1101 person lookups (name, ID number, birth date)."
)
PRODUCTION_HINT = (
    "Unset SIMULATORS_ENABLED and set NHSA_PLATFORM_URL and RX_CENTRE_URL to the real systems."
)


def in_production() -> bool:
    """True outside development, demo and tests (where the simulators belong)."""
    return not (
        settings.DEBUG
        or getattr(settings, "DEMO_MODE", False)
        or getattr(settings, "DUALCHANNEL_TESTING", False)
    )


def simulators_in_production(app_configs=None, **kwargs) -> list[Warning]:
    """System check ``simulators.W001`` (shown by ``manage.py check`` and ``check --deploy``)."""
    if not in_production():
        return []
    return [Warning(PRODUCTION_WARNING, hint=PRODUCTION_HINT, id="simulators.W001")]
