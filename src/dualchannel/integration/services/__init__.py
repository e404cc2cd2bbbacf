"""Integration's business actions (docs/conventions.md): ``filing`` files a person with the
agency through the national platform (2503) and cancels a filing (2504); ``person`` fetches an
insured person from the platform (1101) into the registry; ``voucher`` resolves a scanned
e-voucher (医保电子凭证) to its holder (1101, certificate type 01). The platform, HIS and
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
from .person import PersonFetched, insured_person_fetch
from .voucher import VoucherHolder, e_voucher_resolve, voucher_digest

__all__ = [
    "FilingInFlight",
    "PersonFetched",
    "VoucherHolder",
    "can_send",
    "e_voucher_resolve",
    "filing_cancel",
    "filing_process",
    "filing_retry",
    "filing_submit",
    "filing_withdraw",
    "insured_person_fetch",
    "may_retry",
    "queue_next_attempt",
    "voucher_digest",
]
