"""The shared role checks: ``actor_role`` for the audit ledger and ``role_required`` for pages."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from django.contrib.auth.models import AnonymousUser
from django.http import HttpResponse
from django.test import RequestFactory

from dualchannel.core.permissions import actor_role, role_required
from dualchannel.core.roles import Role
from dualchannel.core.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

SRC = Path(__file__).resolve().parents[2]  # src/dualchannel


CALLS: list[str] = []


def page(request):
    CALLS.append(request.method)
    return HttpResponse("ok")


def call(view, user, method="get", path="/somewhere/?tab=2", **headers):
    request = getattr(RequestFactory(), method)(path, **headers)
    request.user = user
    response = view(request)
    if hasattr(response, "render"):
        response.render()
    return response


# --- actor_role ---------------------------------------------------------------------------------


def test_a_superuser_acts_as_admin_whatever_roles_it_holds():
    superuser = UserFactory(is_superuser=True, roles=[Role.PHYSICIAN])

    assert actor_role(superuser) == Role.ADMIN
    assert actor_role(superuser, Role.PHARMACIST) == Role.ADMIN


def test_a_user_with_several_roles_is_named_by_the_one_order():
    user = UserFactory(roles=[Role.PATIENT, Role.REVIEWER, Role.PHYSICIAN])

    assert actor_role(user) == Role.PHYSICIAN


def test_a_module_of_one_role_names_it():
    user = UserFactory(roles=[Role.PHYSICIAN, Role.PHARMACIST])

    assert actor_role(user, Role.PHARMACIST) == Role.PHARMACIST
    assert actor_role(user, Role.AGENCY_OFFICER) == ""


def test_no_actor_or_no_role_is_recorded_as_empty():
    assert actor_role(None) == ""
    assert actor_role(UserFactory()) == ""


# --- role_required ------------------------------------------------------------------------------


def test_an_anonymous_visitor_goes_to_the_staff_login_with_the_page_to_come_back_to():
    response = call(role_required(Role.PHYSICIAN)(page), AnonymousUser())

    assert response.status_code == 302
    assert response.url == "/accounts/login/?next=/somewhere/%3Ftab%3D2"


def test_a_page_may_name_its_own_login():
    response = call(role_required(Role.PATIENT, login_url="portal-login")(page), AnonymousUser())

    assert response.status_code == 302
    assert response.url.startswith("/portal/login/?next=/somewhere/")


@pytest.mark.parametrize("method", ["get", "post"])
def test_another_role_gets_the_403_page_and_the_view_does_not_run(method):
    pharmacist = UserFactory(roles=[Role.PHARMACIST])
    CALLS.clear()

    response = call(role_required(Role.PHYSICIAN, Role.REVIEWER)(page), pharmacist, method)

    assert response.status_code == 403
    assert "无权执行此操作" in response.content.decode()
    assert CALLS == []


def test_one_of_the_roles_or_an_admin_gets_the_page():
    view = role_required(Role.PHYSICIAN, Role.REVIEWER)(page)

    assert call(view, UserFactory(roles=[Role.REVIEWER])).content == b"ok"
    assert call(view, UserFactory(is_superuser=True)).content == b"ok"


# --- one home each ------------------------------------------------------------------------------

ONE_HOME = {
    "role_required": "core/permissions.py",
    "actor_role": "core/permissions.py",
    "profile_of": "registry/profiles.py",
}


def test_each_shared_helper_is_defined_once_in_its_home():
    found: dict[str, list[str]] = {name: [] for name in ONE_HOME}
    for path in SRC.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name in found:
                found[node.name].append(path.relative_to(SRC).as_posix())

    assert found == {name: [home] for name, home in ONE_HOME.items()}
