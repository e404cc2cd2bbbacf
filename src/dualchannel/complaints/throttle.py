"""How often one address may post a complaint: a counter in the shared cache (settings.CACHES
"shared", the database), so every worker counts the same posts; the address is the client's
behind the trusted proxies (core.client_address, settings.TRUSTED_PROXY_COUNT).

The project has no rate limiter for public posts (django-axes counts logins only); this keeps a
flood of complaints from one address out of the officers' queue [HB art. 26].
"""

from __future__ import annotations

from django.core.cache import caches
from django.http import HttpRequest

from dualchannel.core.client_address import client_address
from dualchannel.core.errors import DomainError

from . import error_codes as codes

LIMIT = 5
WINDOW_S = 3600
CACHE = "shared"


def check_rate(request: HttpRequest) -> None:
    """Count this post of the caller's address; refuse the one over ``LIMIT`` an hour."""
    cache = caches[CACHE]
    key = f"complaints:post:{client_address(request)}"
    cache.add(key, 0, WINDOW_S)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, WINDOW_S)
        count = 1
    if count > LIMIT:
        raise DomainError(codes.RATE_LIMITED, "提交过于频繁，请一小时后再试", status=429)
