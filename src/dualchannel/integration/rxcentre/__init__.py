"""Client of the e-prescription centre (医保电子处方中心); wire format in ``wire``."""

from .client import RxCentreClient
from .errors import RxCentreError, TransportError
from .transport import HttpTransport, SimulatorTransport, Transport, default_transport

__all__ = [
    "HttpTransport",
    "RxCentreClient",
    "RxCentreError",
    "SimulatorTransport",
    "Transport",
    "TransportError",
    "default_transport",
]
