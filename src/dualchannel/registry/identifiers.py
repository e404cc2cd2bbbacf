"""Synthetic but valid identifiers (check characters computed) for the demo and its HIS.

The demo region, the demo HIS (``integration.his.demo``) and the tests must compute the same
numbers for the same people, and production code must not import the demo app: the recipe
lives here, beside the registry's validation of real numbers (``registry.validation``).
"""

from __future__ import annotations

from datetime import date

from stdnum.cn import ric, uscc


def synthetic_credit_code(region_code: str, serial: int) -> str:
    """A unified social credit code of a public institution (12…) with a correct check character."""
    body = f"12{region_code}{serial:09d}"
    return body + uscc.calc_check_digit(body)


def synthetic_id_number(region_code: str, birth: date, serial: int, male: bool) -> str:
    """An 18-character resident ID number with a correct MOD 11-2 check character."""
    body = f"{region_code}{birth:%Y%m%d}{serial % 100:02d}{1 if male else 2}"
    # stdnum's calc_check_digit expects the number *with* a check position.
    return body + ric.calc_check_digit(body + "0")
