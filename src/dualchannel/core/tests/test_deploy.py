"""The production example (deploy/production.env.example) passes Django's deployment checks, and
its settings are the hardened ones: HTTPS redirect, HSTS, Secure cookies, staff-only docs."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

from django.core.management.utils import get_random_secret_key

ROOT = Path(__file__).resolve().parents[4]
EXAMPLE = ROOT / "deploy" / "production.env.example"


def _production_env(tmp_path: Path) -> dict[str, str]:
    values = {}
    for line in EXAMPLE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value
    # What the operator fills in.
    values["SECRET_KEY"] = get_random_secret_key() + get_random_secret_key()
    values["DOCUMENT_KEY_ENCRYPTION_KEY"] = get_random_secret_key()
    values["AUDIT_HMAC_KEYS"] = "k1:" + secrets.token_hex(32)
    values["AUDIT_CHECKPOINT_DIR"] = str(tmp_path / "audit")
    values["DUALCHANNEL_VAR_DIR"] = str(tmp_path)
    env = {
        name: value
        for name, value in os.environ.items()
        if name in ("PATH", "HOME", "LANG", "LC_ALL", "SYSTEMROOT", "TMPDIR")
    }
    env.update(values)
    return env


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_production_example_passes_check_deploy(tmp_path):
    result = _run(_production_env(tmp_path), "check", "--deploy", "--fail-level", "WARNING")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_example_turns_the_hardening_on(tmp_path):
    names = [
        "SECURE_SSL_REDIRECT",
        "SECURE_HSTS_SECONDS",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS",
        "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE",
        "SESSION_COOKIE_SAMESITE",
        "API_DOCS_PUBLIC",
        "SESSION_IDLE_MINUTES",
    ]
    code = (
        "import json; from django.conf import settings as s; "
        f"print(json.dumps({{n: getattr(s, n) for n in {names!r}}}))"
    )

    result = _run(_production_env(tmp_path), "shell", "-c", code)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {
        "SECURE_SSL_REDIRECT": True,
        "SECURE_HSTS_SECONDS": 31536000,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "API_DOCS_PUBLIC": False,
        "SESSION_IDLE_MINUTES": 30,
    }


def test_cookies_are_secure_by_default_outside_debug_and_demo(tmp_path):
    """Without SECURE_COOKIES in the environment: Secure outside DEBUG/DEMO_MODE, not in demo."""
    env = _production_env(tmp_path)
    del env["SECURE_COOKIES"]
    code = "from django.conf import settings as s; print(s.SESSION_COOKIE_SECURE)"

    production = _run(env, "shell", "-c", code)
    demo = _run({**env, "DEMO_MODE": "1"}, "shell", "-c", code)

    assert production.stdout.strip().splitlines()[-1] == "True", production.stderr
    assert demo.stdout.strip().splitlines()[-1] == "False", demo.stderr


def test_gunicorn_config_serves_the_application_with_the_import_frozen_before_each_fork():
    """deploy/gunicorn.conf.py as gunicorn reads it, in a process of its own (it switches the
    collector off while the master imports the application)."""
    probe = (
        "import gc, runpy\n"
        "cfg = runpy.run_path('deploy/gunicorn.conf.py')\n"
        "assert not gc.isenabled()\n"  # the master imports the application without collecting
        "held = [[n] for n in range(1000)]\n"
        "cfg['pre_fork'](None, None)\n"
        "frozen = gc.get_freeze_count()\n"
        "cfg['post_fork'](None, None)\n"
        "print(cfg['workers'], cfg['worker_class'], cfg['preload_app'], cfg['bind'],"
        " frozen >= 1000, gc.isenabled())\n"
    )
    env = {**os.environ, "GUNICORN_WORKERS": "3", "GUNICORN_BIND": "127.0.0.1:8123"}
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["3", "sync", "True", "127.0.0.1:8123", "True", "True"]


def test_a_malformed_session_setting_stops_start_up(tmp_path):
    """DB_SESSION_SETTINGS goes into every PostgreSQL connection's options: anything but
    ``name=value`` pairs is refused when the settings load, not sent to the server."""
    env = _production_env(tmp_path)
    env["DB_SESSION_SETTINGS"] = "jit=off,work_mem=64MB -c statement_timeout=0"
    done = _run(env, "check")
    assert done.returncode != 0
    assert "DB_SESSION_SETTINGS: 'work_mem=64MB -c statement_timeout=0' is not name=value" in (
        done.stderr
    )
    env["DB_SESSION_SETTINGS"] = "jit=off,work_mem=64MB"
    assert _run(env, "check").returncode == 0
