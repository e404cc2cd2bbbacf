"""Eight agency officers writing at once through the WSGI app on a file SQLite database.

Run by ``test_sqlite_concurrency`` in a subprocess whose ``DATABASE_URL`` names a fresh file (the
test process itself uses in-memory SQLite, where threads cannot write at once at all). Each
officer obtains a token, then registers and corrects insured persons; the script prints one JSON
line with the status codes seen and what the database holds afterwards.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections import Counter
from datetime import date

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dualchannel.config.settings")
django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402

from dualchannel.core.roles import Role  # noqa: E402
from dualchannel.core.tests.factories import PASSWORD, UserFactory, totp_code  # noqa: E402
from dualchannel.registry.models import InstitutionKind, InsuredPerson  # noqa: E402
from dualchannel.registry.tests.factories import (  # noqa: E402
    InstitutionFactory,
    InsuredPersonFactory,
    make_id_number,
)

WRITERS = int(os.environ.get("SQLITE_WRITERS", "8"))
ROUNDS = int(os.environ.get("SQLITE_ROUNDS", "5"))


def _given():
    agency = InstitutionFactory(
        kind=InstitutionKind.AGENCY, name="武汉市医疗保障事务中心", region_code="420100"
    )
    officers = [
        UserFactory(username=f"officer{n}", institution=agency, roles=[Role.AGENCY_OFFICER])
        for n in range(WRITERS)
    ]
    people = [InsuredPersonFactory(region_code="420102") for _ in range(WRITERS)]
    return officers, people


def _officer(
    n: int, username: str, otp: str, person_id: int, barrier, statuses: Counter, errors: list
):

    client = Client()
    try:
        barrier.wait()
        answer = client.post(
            "/api/v1/auth/token",
            {"username": username, "password": PASSWORD, "otp": otp},
            content_type="application/json",
        )
        statuses[answer.status_code] += 1
        if answer.status_code != 200:
            errors.append(answer.content.decode()[:300])
            return
        auth = {"HTTP_AUTHORIZATION": f"Bearer {answer.json()['token']}"}
        for r in range(ROUNDS):
            created = client.post(
                "/api/v1/registry/insured-persons",
                {
                    "id_number": make_id_number("420102", date(1960 + n, 1, 1 + r), 10 + r),
                    "name": f"并发{n}号{r}",
                    "insurance_type": "310",
                    "enrolment_region": "420102",
                },
                content_type="application/json",
                **auth,
            )
            corrected = client.patch(
                f"/api/v1/registry/insured-persons/{person_id}",
                {"phone": f"1380000{n:02d}{r:02d}"},
                content_type="application/json",
                **auth,
            )
            for answer in (created, corrected):
                statuses[answer.status_code] += 1
                if answer.status_code >= 300:
                    errors.append(answer.content.decode()[:300])
    except Exception as exc:  # a server error escaping the test client
        statuses["exception"] += 1
        errors.append(f"{type(exc).__name__}: {exc}"[:300])
    finally:
        connection.close()


def main() -> None:
    call_command("migrate", verbosity=0)
    officers, people = _given()
    # Officers sign in with their second factor (the authenticator the factory enrolled).
    codes = [totp_code(officer) for officer in officers]
    connection.close()
    barrier = threading.Barrier(WRITERS)
    statuses: Counter = Counter()
    errors: list[str] = []
    threads = [
        threading.Thread(
            target=_officer,
            args=(n, officer.username, codes[n], people[n].pk, barrier, statuses, errors),
        )
        for n, officer in enumerate(officers)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    phones = {p.pk: p.phone for p in InsuredPerson.objects.filter(pk__in=[p.pk for p in people])}
    print(
        json.dumps(
            {
                "statuses": {str(k): v for k, v in statuses.items()},
                "errors": errors[:5],
                "created": InsuredPerson.objects.filter(name__startswith="并发").count(),
                "phones": [phones[p.pk] for p in people],
                "journal_mode": connection.cursor().execute("PRAGMA journal_mode").fetchone()[0],
            }
        )
    )


if __name__ == "__main__":
    sys.exit(main())
