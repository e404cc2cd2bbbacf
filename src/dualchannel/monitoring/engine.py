"""The rule engine [HB art. 47, AH §2(8), CX art. 30]: each rule is a detector, a read over the
database for one region and one period, handed down by the app that owns the data it reads
(``detector_register`` in that app's ``AppConfig.ready``: monitoring sits below them).

``rules_run`` runs the enabled rules of a region over a period, each finding judged with the
thresholds of the nearest region (county, city, province, national) that set them, and raises
an alert per finding (an open alert of the same rule and subject only counts again). It runs
nightly over the month (``tasks``) and, for the rules that follow events, as a queued job
after the business transaction commits (``monitoring_follow``): the hot path only enqueues.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from dualchannel.core.jobs import enqueue
from dualchannel.registry.models import Institution, Region

from .models import Alert
from .rules import ResolvedRule, rules_within
from .services import alert_raise

logger = logging.getLogger("dualchannel.monitoring")

INCREMENTAL_JOB = "monitoring.follow"
# Events of one region within this window share one follow-up run (a debounce: a busy counter
# queues one job per window, not one per sale).
FOLLOW_WINDOW = timedelta(minutes=5)


@dataclass(frozen=True)
class Scope:
    """Where and when a detector looks: institutions whose region code starts with ``prefix``,
    events on ``start`` … ``end`` (inclusive), with the region's thresholds."""

    prefix: str
    start: date
    end: date
    params: dict[str, int | Decimal] = field(default_factory=dict)


@dataclass(frozen=True)
class Finding:
    """What a detector found: the institution concerned, a subject and evidence (ids, codes
    and counts only, never a name or an ID number)."""

    institution_id: int | None
    subject: tuple[str, Any]
    evidence: dict[str, Any]


Detector = Callable[[Scope], list[Finding]]
_detectors: dict[str, Detector] = {}


def detector_register(key: str, detector: Detector) -> None:
    """Called from an app's ``AppConfig.ready``: the app owns the tables the rule reads."""
    _detectors[key] = detector


def detectors() -> dict[str, Detector]:
    return dict(_detectors)


def rules_run(region: Region, start: date, end: date, *, keys: list[str] | None = None) -> int:
    """Run the region's enabled rules (or ``keys`` of them) over ``start`` … ``end``; each
    finding raises or counts an alert. Returns the number of findings.

    A finding is judged by the rule in force where it happened: the nearest region with an
    override, from the institution's county up (``rules.rules_within``). A detector still reads
    the whole region (a person buying in two counties of a city is one pattern); it runs once per
    distinct set of thresholds, and each finding is kept only by the run with its own region's
    thresholds, raised with its region's severity (a county that switched the rule off has none)."""
    zones = rules_within(region)
    raised = 0
    for key in sorted({k for _sub, rules in zones for k in rules}):
        detector = _detectors.get(key)
        if detector is None or (keys is not None and key not in keys):
            continue
        in_force = [(sub.code_prefix, rules[key]) for sub, rules in zones if key in rules]
        found_by: dict[tuple, list[Finding]] = {}
        for _prefix, rule in in_force:
            thresholds = _frozen(rule.params)
            if rule.enabled and thresholds not in found_by:
                found_by[thresholds] = detector(Scope(region.code_prefix, start, end, rule.params))
        places = _institution_regions(found_by.values()) if len(in_force) > 1 else {}
        for thresholds, findings in found_by.items():
            for found in findings:
                rule = _nearest(in_force, places.get(found.institution_id, ""))
                if not rule.enabled or _frozen(rule.params) != thresholds:
                    continue
                if already_known(key, found):
                    continue
                evidence = {**found.evidence, "period": [start.isoformat(), end.isoformat()]}
                alert_raise(
                    rule=key,
                    severity=rule.severity,
                    institution=found.institution_id,
                    subject=found.subject,
                    evidence=evidence,
                    refresh_evidence=True,
                )
                raised += 1
    return raised


def _frozen(params: dict[str, int | Decimal]) -> tuple:
    return tuple(sorted(params.items()))


def _institution_regions(findings: Iterable[list[Finding]]) -> dict[int, str]:
    wanted = {f.institution_id for batch in findings for f in batch if f.institution_id}
    if not wanted:
        return {}
    return dict(Institution.objects.filter(pk__in=wanted).values_list("pk", "region_id"))


def _nearest(in_force: list[tuple[str, ResolvedRule]], region_code: str) -> ResolvedRule:
    """The rule of the nearest region containing ``region_code`` (the run's own region first in
    ``in_force``, the regions below it after; unknown places fall to the run's region)."""
    best = in_force[0]
    for prefix, rule in in_force[1:]:
        if region_code.startswith(prefix) and len(prefix) > len(best[0]):
            best = (prefix, rule)
    return best[1]


def already_known(key: str, found: Finding) -> bool:
    """The same finding (same subject and evidence) was raised before, whatever became of it:
    a nightly re-run over the month neither counts it again nor reopens a dismissed alert."""
    subject_type, subject_id = found.subject
    earlier = Alert.objects.filter(
        rule=key, subject_type=str(subject_type)[:80], subject_id=str(subject_id)[:64]
    ).values_list("evidence", flat=True)
    for evidence in earlier:
        kept = {k: v for k, v in (evidence or {}).items() if k != "period"}
        if kept == found.evidence:
            return True
    return False


def pooling_region_code(region_code: str) -> str:
    """The city-level (pooling) region of a county code; a province or city code as it is."""
    return region_code if region_code.endswith("00") else region_code[:4] + "00"


def follow_window(now: datetime) -> datetime:
    """The end of the ``FOLLOW_WINDOW`` that ``now`` falls in: events of one region in one
    window share one run, which starts when the window closes (so it sees all of them)."""
    seconds = int(FOLLOW_WINDOW.total_seconds())
    epoch = int(now.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds + seconds, tz=UTC)


# The follow-up runs this process has queued, by job key: the next event of the same region,
# rules, day and window needs no statement (the key names a window still open, so its job has
# not run). Bounded; tests forget them with the data (``forget_followed``).
FOLLOWED_KEPT = 512
_followed: dict[str, None] = {}
_followed_lock = threading.Lock()


def forget_followed() -> None:
    _followed.clear()


def monitoring_follow(*, region_code: str, keys: list[str], day: date, event: str) -> None:
    """After the caller's transaction commits, queue a run of ``keys`` over ``day``'s month for
    the event's pooling region. Cheap on the hot path: at most one job row per region, rules,
    day and window (the ``event`` only names the cause in the log)."""
    pooling = pooling_region_code(region_code)
    payload = {"region": pooling, "keys": sorted(keys), "day": day.isoformat()}

    def queue() -> None:
        due = follow_window(timezone.now())
        key = f"{INCREMENTAL_JOB}:{pooling}:{day.isoformat()}:{due:%Y%m%d%H%M}:"
        key = (key + ",".join(payload["keys"]))[:200]
        if key in _followed:
            return  # this process queued (or found) that run already: it has not started yet
        try:
            # after the commit nothing is open: the job row is its own short transaction
            with transaction.atomic():
                enqueue(INCREMENTAL_JOB, payload, key=key, run_after=due)
            with _followed_lock:
                _followed[key] = None
                if len(_followed) > FOLLOWED_KEPT:
                    del _followed[next(iter(_followed))]  # the oldest
        except Exception as exc:  # a monitoring hiccup never fails the business action
            logger.warning(
                "monitoring follow-up for region %s could not be queued (%s)",
                pooling,
                type(exc).__name__,
            )
        else:
            logger.debug("monitoring follow-up queued for %s (%s)", pooling, event.split(":")[0])

    transaction.on_commit(queue)
