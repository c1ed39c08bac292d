"""The web servers under test and how to launch each: ours, the startproject baseline, the limit.

Every target is served by gunicorn with the same worker count on a loopback port; only the
application (and for ``ours-g23`` the gunicorn release) differs.
"""

from __future__ import annotations

import os
import secrets
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from bench import harness, services

APP = harness.REPO / "app"
VENV_BIN = Path(sys.executable).parent
BASELINE_DIR = harness.WORK / "baseline"
WORKERS = 2
FORWARDED = {"X-Forwarded-Proto": "https"}  # what the load balancer adds; sent to every target alike


def procfile() -> dict[str, list[str]]:
    """Process type -> argv, read from the Procfile (the single source of the commands)."""
    commands = {}
    for line in (harness.REPO / "Procfile").read_text().splitlines():
        if line.strip() and not line.startswith("#") and ":" in line:
            name, command = line.split(":", 1)
            commands[name.strip()] = shlex.split(command)
    return commands


def venv_argv(argv: list[str], bin_dir: Path = VENV_BIN) -> list[str]:
    """The Procfile argv with its program resolved in a virtualenv's bin/ (gunicorn, celery, python)."""
    program = bin_dir / argv[0]
    return [str(program) if program.exists() else argv[0], *argv[1:]]


@dataclass
class Target:
    """One web server configuration: how to start it and where its two benchmark views are."""

    name: str
    label: str
    argv: list[str]
    cwd: Path
    env: dict[str, str]
    db_path: str
    db_headers: dict[str, str] = field(default_factory=dict)
    port: int = 0
    views: tuple[str, ...] = ("healthz", "db")  # what the throughput section measures on it

    def start(self, log_name: str | None = None) -> harness.Proc:
        self.port = harness.free_port()
        argv = [*self.argv, "--bind", f"127.0.0.1:{self.port}"]
        env = {**self.env, "PORT": str(self.port)}
        return harness.start(log_name or self.name, argv, env=env, cwd=self.cwd)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def gunicorn_settings(self) -> dict[str, str]:
        """gunicorn's fully resolved settings for this target (``--print-config``), name -> value."""
        out = subprocess.run([*self.argv, "--print-config"], cwd=self.cwd, env=self.env,
                             capture_output=True, text=True, timeout=60)
        settings = {}
        for line in out.stdout.splitlines():
            name, sep, value = line.partition(" = ")
            if sep:
                settings[name.strip()] = value.strip()
        return settings


def base_env() -> dict[str, str]:
    """A minimal process environment: PATH and locale only, nothing from the caller's shell."""
    keep = ("PATH", "LANG", "LC_ALL", "HOME", "TMPDIR")
    return {k: os.environ[k] for k in keep if k in os.environ} | {"PYTHONDONTWRITEBYTECODE": "1"}


# --- the limit ------------------------------------------------------------------------------

def served_like(settings: dict[str, str]) -> list[str]:
    """gunicorn flags that serve a baseline the way our web is served (from ``--print-config``):
    the same worker count, worker class, threads and keep-alive; nothing app-specific."""
    flags = ["--workers", settings.get("workers", str(WORKERS))]
    if settings.get("worker_class"):
        flags += ["--worker-class", settings["worker_class"]]
    for name, flag in (("threads", "--threads"), ("keepalive", "--keep-alive")):
        if settings.get(name):
            flags += [flag, settings[name]]
    return flags


def hello_target(database_url: str, flags: list[str], bin_dir: Path = VENV_BIN) -> Target:
    argv = [str(bin_dir / "gunicorn"), *flags, "bench.apps.hello:application"]
    env = base_env() | {"DATABASE_URL": database_url, "PYTHONPATH": str(harness.REPO)}
    return Target("hello", "bare WSGI (limit)", argv, harness.REPO, env, "/db")


# --- the baseline ---------------------------------------------------------------------------

BASELINE_SETTINGS = '''
# --- appended by bench/targets.py: production-like settings for the baseline ---------------
import os  # noqa: E402

DEBUG = False
SECRET_KEY = os.environ["BASELINE_SECRET_KEY"]
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
DATABASES = {{
    "default": {{
        "ENGINE": "django.db.backends.postgresql",
        "HOST": {host!r}, "PORT": {port!r}, "NAME": {name!r}, "USER": {user!r},
        "OPTIONS": {{"options": "-c search_path=baseline"}},
        "CONN_MAX_AGE": 60, "CONN_HEALTH_CHECKS": True,
    }}
}}
'''

BASELINE_URLS = '''
# --- appended by bench/targets.py: a trivial view and a JSON view that reads the database --
from django.contrib.auth.models import User  # noqa: E402
from django.http import HttpResponse, JsonResponse  # noqa: E402


def healthz(request):
    return HttpResponse("ok")


def users(request):
    rows = list(User.objects.order_by("id").values("id", "username", "date_joined")[:20])
    return JsonResponse({"results": rows})


urlpatterns += [path("healthz", healthz), path("db", users)]
'''


def build_baseline(server_url: str, database: str) -> None:
    """`django-admin startproject baseline`, production settings, Postgres schema ``baseline``."""
    shutil.rmtree(BASELINE_DIR, ignore_errors=True)
    BASELINE_DIR.mkdir(parents=True)
    subprocess.run([str(VENV_BIN / "django-admin"), "startproject", "baseline", str(BASELINE_DIR)], check=True)
    parts = urlsplit(server_url)
    settings = BASELINE_DIR / "baseline" / "settings.py"
    settings.write_text(settings.read_text() + BASELINE_SETTINGS.format(
        host=parts.hostname, port=str(parts.port), name=database, user=parts.username))
    urls = BASELINE_DIR / "baseline" / "urls.py"
    urls.write_text(urls.read_text() + BASELINE_URLS)
    db_url = f"{server_url}/{database}"
    services.psql(db_url, "DROP SCHEMA IF EXISTS baseline CASCADE; CREATE SCHEMA baseline")
    env = baseline_env()
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "--noinput", "-v0"], cwd=BASELINE_DIR, env=env, check=True)
    create = ("from django.contrib.auth.models import User\n"
              "User.objects.bulk_create([User(username=f'user{i:02d}') for i in range(20)])")
    subprocess.run([*manage, "shell", "-c", create], cwd=BASELINE_DIR, env=env, check=True)


_BASELINE_KEY = secrets.token_urlsafe(50)


def baseline_env() -> dict[str, str]:
    return base_env() | {"BASELINE_SECRET_KEY": _BASELINE_KEY, "DJANGO_SETTINGS_MODULE": "baseline.settings"}


def baseline_target(flags: list[str], bin_dir: Path = VENV_BIN) -> Target:
    argv = [str(bin_dir / "gunicorn"), *flags, "baseline.wsgi"]
    return Target("startproject", "startproject (baseline)", argv, BASELINE_DIR, baseline_env(), "/db")


def baseline_db_url(server_url: str, database: str) -> str:
    """The baseline schema as a libpq URL (for the limit's plain-psycopg view)."""
    return f"{server_url}/{database}?options=-c%20search_path%3Dbaseline"
