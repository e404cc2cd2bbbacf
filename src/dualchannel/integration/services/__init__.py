"""Integration's business actions (docs/conventions.md): ``filing`` files a person with the
agency through the national platform (2503) and cancels a filing (2504). The platform, HIS and
e-prescription centre clients (``nhsa``, ``his``, ``rxcentre``) are wire clients, not services.

The names callers use are re-exported here: ``from dualchannel.integration import services``.
"""

from .filing import (
    FilingInFlight,
    can_send,
    filing_cancel,
    filing_process,
    filing_retry,
    filing_submit,
    filing_withdraw,
    may_retry,
    queue_next_attempt,
)

__all__ = [
    "FilingInFlight",
    "can_send",
    "filing_cancel",
    "filing_process",
    "filing_retry",
    "filing_submit",
    "filing_withdraw",
    "may_retry",
    "queue_next_attempt",
]
