"""The demo's first nightly monitoring run: the rules of every pooling region over the month
so far, so the officer's alert page shows what the demo world's own data trips (kept apart from
``world`` so that the world's builders stay as they are)."""

from __future__ import annotations

from django.utils import timezone

from dualchannel.monitoring.tasks import nightly_run


def demo_monitoring_run() -> int:
    """Run the rules as the night's job would; returns the number of findings."""
    return nightly_run(timezone.localdate())
