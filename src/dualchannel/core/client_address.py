"""The client's address as the application may trust it (settings.TRUSTED_PROXY_COUNT).

Each trusted reverse proxy appends the address it received the request from to
X-Forwarded-For; with N of them the client is the N-th entry from the right (anything further
left is the client's own claim). Without trusted proxies the header is ignored: a client can
write anything there.
"""

from __future__ import annotations

from ipaddress import ip_address

from django.conf import settings
from django.http import HttpRequest


def _valid(text: str) -> str | None:
    try:
        return str(ip_address(text.strip()))
    except ValueError:
        return None


def client_address(request: HttpRequest) -> str:
    """The address to count a client by (REMOTE_ADDR when no proxy is trusted or the header is
    missing, short or malformed)."""
    remote = request.META.get("REMOTE_ADDR", "")
    count = settings.TRUSTED_PROXY_COUNT
    if count <= 0:
        return remote
    entries = [e for e in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if e.strip()]
    if len(entries) < count:
        return remote
    return _valid(entries[-count]) or remote
