"""How often one address may post a complaint: a per-worker counter in Django's cache.

The project has no shared rate limiter for public posts (django-axes counts logins only); this
keeps a flood of complaints from one address out of the officers' queue. With the default local
memory cache each worker counts on its own, so the real limit is ``LIMIT`` times the workers.
"""

from __future__ import annotations

from django.core.cache import cache
from django.http import HttpRequest

from dualchannel.core.errors import DomainError

from . import error_codes as codes

LIMIT = 5
WINDOW_S = 3600


def check_rate(request: HttpRequest) -> None:
    """Count this post of the caller's address; refuse the one over ``LIMIT`` an hour."""
    key = f"complaints:post:{request.META.get('REMOTE_ADDR', '')}"
    cache.add(key, 0, WINDOW_S)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, WINDOW_S)
        count = 1
    if count > LIMIT:
        raise DomainError(codes.RATE_LIMITED, "提交过于频繁，请一小时后再试", status=429)
