"""Fuzz the JSON API with schemathesis, in process, as an officer, a pharmacist and a doctor.

Run: ``.venv/bin/python scripts/fuzz_api.py [--examples 1] [--seed 0]`` (CI's bounded run) or
``make fuzz`` (the long run). ``--examples`` is per operation, per token and per flavour
(positive, known, negative).

1. Creates a throw-away test database (SQLite in memory, or a fresh PostgreSQL database when
   ``DATABASE_URL`` points at one), migrates it and loads the reference data and the demo region
   (``demo.world``: Wuhan's agency, hospital, pharmacy, people, stock and a routed prescription).
2. Issues API tokens for ``officer``, ``pharmacist`` and ``doctor`` as ``POST /auth/token`` does.
3. Loads the OpenAPI document from ``/api/v1/openapi.json`` and, for every operation and every
   token, lets schemathesis generate requests that fit the document (positive), the same with
   path parameters naming objects that exist (``known``: random ids mostly meet 404, these reach
   the handlers' success paths) and requests that do not fit (negative), sends them to the WSGI
   application and checks each answer:
   ``not_a_server_error`` (no 5xx), ``response_schema_conformance`` (the body is the documented
   shape for its status) and ``status_code_conformance`` (the status is documented).
4. Prints the figures (operations, requests, answers by status class, failures by check) and one
   example per distinct failure; exits 1 when there is any failure.

No operation is skipped. ``DELETE /auth/token`` revokes the token it is called with, so each of
its requests carries a token issued for that request (the role's own token stays valid for the
other operations).
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import platform
import sys
import tempfile
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dualchannel.config.settings")
os.environ.setdefault("DUALCHANNEL_TESTING", "1")

ROLES = ("officer", "pharmacist", "doctor")
# Operations whose request spends the token it carries: each request gets a fresh token.
TOKEN_SPENDING = {("DELETE", "/api/v1/auth/token")}
# Path parameter -> (app label, model, field) of the objects it names, for the ``known`` requests.
KNOWN = {
    "alert_id": ("monitoring", "Alert", "pk"),
    "application_id": ("eligibility", "Application", "pk"),
    "batch_id": ("settlement", "SettlementBatch", "pk"),
    "claim_id": ("settlement", "ManualClaim", "pk"),
    "complaint_id": ("complaints", "Complaint", "pk"),
    "criteria_set_id": ("catalog", "CriteriaSet", "pk"),
    "criterion_id": ("catalog", "Criterion", "pk"),
    "designation_id": ("registry", "Designation", "pk"),
    "dispensing_id": ("prescriptions", "Dispensing", "pk"),
    "document_id": ("documents", "SignedDocument", "pk"),
    "drug_id": ("catalog", "Drug", "pk"),
    "eligibility_id": ("eligibility", "Eligibility", "pk"),
    "filing_id": ("integration", "PlatformFiling", "pk"),
    "institution_id": ("registry", "Institution", "pk"),
    "key": ("monitoring", "MonitoringRule", "key"),
    "material_id": ("eligibility", "Material", "pk"),
    "movement_id": ("inventory", "StockMovement", "pk"),
    "notification_id": ("notifications", "Notification", "pk"),
    "out_trade_no": ("payments", "PaymentOrder", "out_trade_no"),
    "out_of_area_filing_id": ("registry", "OutOfAreaFiling", "pk"),
    "person_id": ("registry", "InsuredPerson", "pk"),
    "pharmacy_id": ("registry", "Institution", "pk"),
    "physician_id": ("registry", "Physician", "pk"),
    "prescription_id": ("prescriptions", "Prescription", "pk"),
    "recovery_id": ("settlement", "RecoveryOrder", "pk"),
    "reevaluation_id": ("eligibility", "Reevaluation", "pk"),
    "request_id": ("eligibility", "PatientFilingRequest", "pk"),
    "regional_list_id": ("catalog", "RegionalList", "pk"),
    "review_id": ("registry", "FilingReview", "pk"),
    "stay_id": ("registry", "InpatientStay", "pk"),
    "region_code": ("registry", "PolicyProfile", "region_id"),
    "settlement_id": ("settlement", "Settlement", "pk"),
    "standard_id": ("catalog", "PaymentStandard", "pk"),
    "stock_item_id": ("inventory", "StockItem", "pk"),
    "token": ("documents", "SignedDocument", "verification_token"),
    "tracking_no": ("complaints", "Complaint", "tracking_no"),
}


@dataclass
class Figures:
    operations: int = 0
    requests: int = 0
    statuses: Counter = field(default_factory=Counter)
    failures: Counter = field(default_factory=Counter)
    examples: dict = field(default_factory=dict)  # (check, operation, status) -> reproduction
    not_generated: list = field(default_factory=list)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=1, help="per operation, token and flavour")
    parser.add_argument("--seed", type=int, default=0, help="Hypothesis seed (replays a run)")
    parser.add_argument("--only", default="", help="only operations whose path contains this")
    args = parser.parse_args(argv)

    import django

    django.setup()
    warnings.filterwarnings("ignore", message="No directory at", category=UserWarning)
    from django.db import connection
    from django.test.utils import override_settings, setup_test_environment

    setup_test_environment()
    started = time.monotonic()
    with (
        tempfile.TemporaryDirectory() as media,
        override_settings(
            MEDIA_ROOT=media,
            API_DOCS_PUBLIC=True,  # the fuzzer reads the document anonymously
        ),
    ):
        old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
        try:
            tokens = _load_world()
            loaded = time.monotonic()
            figures = _fuzz(tokens, examples=args.examples, seed=args.seed, only=args.only)
        finally:
            connection.creation.destroy_test_db(old_name, verbosity=0)
    _report(figures, args, world_seconds=loaded - started, fuzz_seconds=time.monotonic() - loaded)
    return 1 if figures.failures or not figures.requests else 0


def _load_world() -> dict[str, str]:
    from dualchannel.core.models import ApiToken, User
    from dualchannel.demo import world

    world.load_reference_data(stdout=io.StringIO())
    world.load_demo_region()
    return {role: ApiToken.issue(User.objects.get(username=role))[1] for role in ROLES}


def _fuzz(tokens: dict[str, str], *, examples: int, seed: int, only: str) -> Figures:
    import schemathesis
    from django.core.wsgi import get_wsgi_application
    from hypothesis.errors import Unsatisfiable
    from schemathesis import GenerationMode

    app = get_wsgi_application()  # sets logging up again
    # Thousands of refused requests: keep the log to errors (a 500 logs its type and path).
    logging.getLogger("django.request").setLevel(logging.ERROR)
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    figures = Figures()
    for result in schema.get_all_operations():
        operation = result.ok()  # an operation the document cannot describe raises here
        if only and only not in operation.path:
            continue
        figures.operations += 1
        for role, token in tokens.items():
            flavours = {
                "positive": operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
                "negative": operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
            }
            known = _known_path_parameters(operation)
            if known is not None:
                flavours["known"] = known.flatmap(
                    lambda values, operation=operation: operation.as_strategy(
                        generation_mode=GenerationMode.POSITIVE, path_parameters=values
                    )
                )
            for flavour, strategy in flavours.items():
                try:
                    _probe(app, operation, role, token, strategy, examples, seed, figures)
                except Unsatisfiable:
                    # No request can break the document's rules (e.g. no parameters, no body).
                    figures.not_generated.append(f"{operation.label} ({flavour}, {role})")
    return figures


def _known_path_parameters(operation):
    """A strategy of path parameters naming existing objects, or None (no path parameters)."""
    from django.apps import apps
    from hypothesis import strategies as st

    names = [p.name for p in operation.path_parameters]
    if not names:
        return None
    choices = {}
    for name in names:
        if name == "year":
            choices[name] = st.sampled_from([2025, 2026])
            continue
        app_label, model_name, field_name = KNOWN[name]  # a new path parameter belongs here
        values = list(
            apps.get_model(app_label, model_name)
            .objects.order_by("-pk")
            .values_list(field_name, flat=True)[:50]
        )
        if not values:
            return None  # none exist yet (e.g. no alert): the random requests cover it
        choices[name] = st.sampled_from(values)
    return st.fixed_dictionaries(choices)


def _probe(app, operation, role, token, strategy, examples, seed, figures: Figures) -> None:
    import hypothesis
    from hypothesis import HealthCheck, Phase, Verbosity
    from schemathesis.checks import not_a_server_error
    from schemathesis.core.failures import FailureGroup
    from schemathesis.specs.openapi.checks import (
        response_schema_conformance,
        status_code_conformance,
    )

    from dualchannel.core.models import ApiToken, User

    checks = [not_a_server_error, response_schema_conformance, status_code_conformance]
    spends_token = (operation.method.upper(), operation.path) in TOKEN_SPENDING

    @hypothesis.seed(seed)
    @hypothesis.settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        verbosity=Verbosity.quiet,
    )
    @hypothesis.given(case=strategy)
    def probe(case) -> None:
        sent = ApiToken.issue(User.objects.get(username=role))[1] if spends_token else token
        headers = {"Authorization": f"Bearer {sent}"}
        response = case.call(app=app, headers=headers)
        figures.requests += 1
        figures.statuses[f"{response.status_code // 100}xx"] += 1
        try:
            case.validate_response(response, checks=checks, headers=headers)
        except FailureGroup as group:
            for failure in group.exceptions:
                figures.failures[failure.title] += 1
                figures.examples.setdefault(
                    (failure.title, operation.label, response.status_code),
                    f"{role}: {case.as_curl_command(headers=headers)}",
                )

    probe()


def _report(figures: Figures, args, *, world_seconds: float, fuzz_seconds: float) -> None:
    print(
        f"schemathesis fuzz: {figures.operations} operations x {len(ROLES)} tokens "
        f"({', '.join(ROLES)}) x positive/known/negative, "
        f"--examples {args.examples} --seed {args.seed}"
    )
    print(
        f"  world loaded in {world_seconds:.0f} s; {figures.requests} requests in "
        f"{fuzz_seconds:.0f} s on {platform.node() or 'this machine'} "
        f"({os.cpu_count()} cores, Python {platform.python_version()})"
    )
    print("  answers: " + ", ".join(f"{k} {v}" for k, v in sorted(figures.statuses.items())))
    if figures.not_generated:
        print(
            f"  nothing to generate: {len(figures.not_generated)} operation/token/flavour triples"
        )
    server_errors = sum(n for title, n in figures.failures.items() if "Server error" in title)
    violations = sum(figures.failures.values()) - server_errors
    print(f"  failures: {server_errors} server errors, {violations} schema violations")
    for (title, label, status), example in sorted(figures.examples.items()):
        print(f"  - {title}: {label} -> {status}\n      {example}")
    print(f"{figures.requests} requests, {sum(figures.failures.values())} failures")


if __name__ == "__main__":
    sys.exit(main())
