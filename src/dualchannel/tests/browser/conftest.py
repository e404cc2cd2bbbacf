"""Page tests in a real browser: Debian chromium driven by Playwright against the live server."""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import pytest
from django.core.management import call_command
from playwright.sync_api import sync_playwright

from dualchannel.core.tests.factories import totp_code
from dualchannel.demo import supervision, world

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
# Flags for a machine without internet and without a display, run as root.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def pytest_collection_modifyitems(config, items):
    if Path(CHROMIUM).exists() or shutil.which("chromium"):
        return
    skip = pytest.mark.skip(reason=f"no chromium at {CHROMIUM}: apt-get install chromium")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def browser():
    # Playwright's sync API runs an event loop in this thread; the test's own ORM calls are
    # ordinary synchronous code, so Django's async-safety guard must not trip on them.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


def watch_csp(tab) -> list[str]:
    """Chromium reports each Content-Security-Policy refusal on the console; collect them."""
    violations: list[str] = []
    tab.on(
        "console",
        lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    return violations


@pytest.fixture
def page(browser):
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(10_000)
    tab.csp_violations = watch_csp(tab)
    yield tab
    context.close()
    # Every page a browser test visits runs under the CSP without a single refusal.
    assert tab.csp_violations == []


@pytest.fixture
def mobile_page(browser):
    context = browser.new_context(
        locale="zh-CN", viewport={"width": 375, "height": 740}, is_mobile=True, has_touch=True
    )
    tab = context.new_page()
    tab.set_default_timeout(10_000)
    tab.csp_violations = watch_csp(tab)
    yield tab
    context.close()
    assert tab.csp_violations == []


def give_second_factor(page, user) -> None:
    """On the two-factor page (officers and administrators), type the authenticator's code."""

    if "/accounts/otp/" in page.url:
        page.fill("input[name=token]", totp_code(user))
        page.click("button[type=submit]:has-text('验证')")
        page.wait_for_load_state("networkidle")


@pytest.fixture
def login(live_server, password):
    """Log a page in through the real login form."""

    def do_login(page, user):
        page.goto(f"{live_server.url}/accounts/login/")
        page.fill("input[name=username]", user.username)
        page.fill("input[name=password]", password)
        page.click("button[type=submit]")
        page.wait_for_load_state("networkidle")
        give_second_factor(page, user)
        return page

    return do_login


# Role-month tests play pages over the demo data; the PostgreSQL pass has its own tests of the
# concurrency they rest on, so the demo's ~30 s load is paid in the SQLite pass only.
sqlite_pass_only = pytest.mark.skipif(
    os.environ.get("DATABASE_URL", "").startswith("postgres"),
    reason="pages over the demo data: the SQLite pass plays them (demo_load takes ~30 s)",
)


@pytest.fixture
def demo_world(settings, tmp_path):
    """The world ``make demo`` serves (real catalogue, Wuhan under the Hubei rules, a login per
    role), loaded into the test database for a role's month played through the pages.

    ~30 s: the role-month tests share it through this fixture and nothing else loads it."""
    settings.DEMO_MODE = True  # demo users sign in without the second factor, as in `make demo`
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.AUDIT_CHECKPOINT_DIR = tmp_path / "checkpoints"
    call_command("demo_load", stdout=io.StringIO())
    return {login.username: login for login in supervision.all_demo_logins()}


@pytest.fixture
def demo_login(live_server, demo_world):
    """Sign a page in as one of the demo's users, through the login form, as a visitor would."""

    def do_login(page, username: str):
        page.goto(f"{live_server.url}/accounts/login/")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", world.DEMO_PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_load_state("networkidle")
        return page

    return do_login
