"""The bundled payment simulator, answered in this process and handed down at start-up.

The simulators sit above payments, so payments does not import them: ``SimulatorsConfig.ready()``
registers the simulated provider here (its httpx transport and the key material it issued to
the merchant), and ``providers.registry`` uses it when no provider address is configured.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True)
class SimulatedProvider:
    # () -> httpx transport that answers the provider's API in this process
    transport: Callable[[], httpx.BaseTransport]
    # () -> {"mch_id", "app_id", "api_v3_key", "merchant_serial_no", "merchant_private_key",
    #        "platform_serial_no", "platform_public_key"}: what a merchant account is given
    credentials: Callable[[], dict[str, Any]]


_simulated: dict[str, SimulatedProvider] = {}


def simulated_provider_register(name: str, provider: SimulatedProvider) -> None:
    _simulated[name] = provider


def simulated_provider(name: str) -> SimulatedProvider | None:
    return _simulated.get(name)
