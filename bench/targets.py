"""The web servers under test and how to launch each: ours, the startproject baseline, the limit.

Every target is served by the same gunicorn with the same settings file, our app/gunicorn.conf.py
(workers, threads, keep-alive, max_requests, preloading, the JSON access logger, the connection
balancing), on a loopback port: only the application differs. ``*-no-recycle`` variants add
``--max-requests 0`` and nothing else.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

from bench import harness, services

APP = harness.REPO / "app"
VENV_BIN = Path(sys.executable).parent
BASELINE_DIR = harness.WORK / "baseline"
WORKERS = 2
DOCUMENTS_LISTED = 20  # rows the signed-in user owns, in ours and in the baseline: one page, not full
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
    documents_path: str | None = None  # the documents list, or its like-for-like baseline
    documents_headers: dict[str, str] = field(default_factory=dict)

    def path_of(self, view: str) -> str:
        return {"healthz": "/healthz", "db": self.db_path, "documents": self.documents_path}[view]

    def headers_of(self, view: str) -> dict[str, str]:
        return {**FORWARDED, **{"db": self.db_headers, "documents": self.documents_headers}.get(view, {})}

    def variant(self, name: str, label: str, *flags: str) -> Target:
        """The same target with extra gunicorn flags (e.g. ``--max-requests 0``)."""
        return replace(self, name=name, label=label, argv=[*self.argv, *flags], env=dict(self.env))

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

GUNICORN_CONF = APP / "gunicorn.conf.py"


def served_like_ours(app_module: str, bin_dir: Path = VENV_BIN) -> list[str]:
    """gunicorn with our settings file for another app module. The settings file validates our
    environment, so a baseline process gets it too; its own app reads only its own variables."""
    return [str(bin_dir / "gunicorn"), "--config", str(GUNICORN_CONF), app_module]


def hello_target(database_url: str, ours_env: dict[str, str], bin_dir: Path = VENV_BIN) -> Target:
    argv = served_like_ours("bench.apps.hello:application", bin_dir)
    env = ours_env | {"DATABASE_URL": database_url, "PYTHONPATH": str(harness.REPO)}
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
INSTALLED_APPS += ["docs"]
'''

# The documents list's like-for-like baseline: the same rows as our Document, the same JSON.
DOCS_MODELS = '''
from django.conf import settings
from django.db import models
from django.utils import timezone


class Document(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    file = models.CharField(max_length=255)
    original_name = models.CharField(max_length=255)
    size = models.BigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    content_type = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=16, default="pending")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ("-created_at", "-id")
        indexes = [models.Index(fields=("owner", "-created_at"), name="document_owner_recent")]
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


def documents(request):
    """A signed-in user's documents: a database session, the user, COUNT and a page of model
    instances as JSON, the way a plain Django view writes it (Paginator, model instances)."""
    from django.core.paginator import Paginator
    from docs.models import Document

    if not request.user.is_authenticated:
        return JsonResponse({"error": "authentication required"}, status=401)
    page = Paginator(Document.objects.filter(owner=request.user), 50).page(request.GET.get("page", 1))
    base = request.build_absolute_uri("/documents/")
    return JsonResponse({
        "count": page.paginator.count,
        "next": f"{base}?page={page.next_page_number()}" if page.has_next() else None,
        "previous": f"{base}?page={page.previous_page_number()}" if page.has_previous() else None,
        "results": [{
            "id": d.pk, "name": d.original_name, "status": d.status, "size": d.size, "sha256": d.sha256 or None,
            "content_type": d.content_type or None, "error": d.error or None,
            "created_at": d.created_at.isoformat(),
            "processed_at": d.processed_at.isoformat() if d.processed_at else None,
            "url": f"{base}{d.pk}/", "download_url": f"{base}{d.pk}/download/",
        } for d in page],
    })


urlpatterns += [path("healthz", healthz), path("db", users), path("documents/", documents)]
'''

SEED_BASELINE = '''
import json
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client
from docs.models import Document

User.objects.bulk_create([User(username=f"user{{i:02d}}") for i in range(20)])
owner = User.objects.create(username="bench")
Document.objects.bulk_create(Document(owner=owner, original_name=f"seed-{{i}}.txt", file=f"documents/seed-{{i}}.txt")
                             for i in range({count}))
client = Client()
client.force_login(owner)
print(json.dumps({{"cookie": settings.SESSION_COOKIE_NAME + "=" + client.cookies[settings.SESSION_COOKIE_NAME].value}}))
'''


def build_baseline(server_url: str, database: str) -> str:
    """`django-admin startproject baseline`, production settings, Postgres schema ``baseline``, a
    ``docs`` app with our Document's columns; the session cookie of a user with a page of them."""
    shutil.rmtree(BASELINE_DIR, ignore_errors=True)
    BASELINE_DIR.mkdir(parents=True)
    subprocess.run([str(VENV_BIN / "django-admin"), "startproject", "baseline", str(BASELINE_DIR)], check=True)
    parts = urlsplit(server_url)
    settings = BASELINE_DIR / "baseline" / "settings.py"
    settings.write_text(settings.read_text() + BASELINE_SETTINGS.format(
        host=parts.hostname, port=str(parts.port), name=database, user=parts.username))
    urls = BASELINE_DIR / "baseline" / "urls.py"
    urls.write_text(urls.read_text() + BASELINE_URLS)
    docs = BASELINE_DIR / "docs"
    (docs / "migrations").mkdir(parents=True)
    (docs / "__init__.py").write_text("")
    (docs / "migrations" / "__init__.py").write_text("")
    (docs / "models.py").write_text(DOCS_MODELS)
    db_url = f"{server_url}/{database}"
    services.psql(db_url, "DROP SCHEMA IF EXISTS baseline CASCADE; CREATE SCHEMA baseline")
    env = baseline_env()
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "makemigrations", "docs", "-v0"], cwd=BASELINE_DIR, env=env, check=True)
    subprocess.run([*manage, "migrate", "--noinput", "-v0"], cwd=BASELINE_DIR, env=env, check=True)
    out = subprocess.run([*manage, "shell", "-c", SEED_BASELINE.format(count=DOCUMENTS_LISTED)], cwd=BASELINE_DIR,
                         env=env, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["cookie"]


_BASELINE_KEY = secrets.token_urlsafe(50)


def baseline_env() -> dict[str, str]:
    return base_env() | {"BASELINE_SECRET_KEY": _BASELINE_KEY, "DJANGO_SETTINGS_MODULE": "baseline.settings"}


def baseline_target(ours_env: dict[str, str], cookie: str, bin_dir: Path = VENV_BIN) -> Target:
    argv = served_like_ours("baseline.wsgi", bin_dir)
    return Target("startproject", "startproject (baseline)", argv, BASELINE_DIR, ours_env | baseline_env(), "/db",
                  views=("healthz", "db", "documents"), documents_path="/documents/",
                  documents_headers={"Cookie": cookie})


def baseline_db_url(server_url: str, database: str) -> str:
    """The baseline schema as a libpq URL (for the limit's plain-psycopg view)."""
    return f"{server_url}/{database}?options=-c%20search_path%3Dbaseline"
