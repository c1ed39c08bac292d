"""Our app as the bench runs it: production settings, the Procfile's commands, seeded data.

The environment is production mode (``DJANGO_DEBUG`` off) with every backing service on
loopback: the given Postgres, the bench's private Redis, and an S3 test server for media.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from bench import harness, targets

BUCKET = "keel-bench"
USERNAME = "bench"
DOCUMENTS_LISTED = targets.DOCUMENTS_LISTED


@dataclass
class Services:
    """Where our app's backing services are: database URL, Redis base URL, S3 endpoint."""

    database_url: str
    redis_url: str
    s3_url: str


_SECRET_KEY = secrets.token_urlsafe(50)


def env(services: Services, **overrides: str) -> dict[str, str]:
    """A production-mode environment for every process of our app."""
    return targets.base_env() | {
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": _SECRET_KEY,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DATABASE_URL": services.database_url,
        "REDIS_URL": f"{services.redis_url}/0",
        "CELERY_BROKER_URL": f"{services.redis_url}/1",
        "AWS_STORAGE_BUCKET_NAME": BUCKET,
        "AWS_S3_REGION_NAME": "us-east-1",
        "AWS_S3_ENDPOINT_URL": services.s3_url,
        # The S3 test server accepts any key; on AWS the task role provides credentials.
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "WEB_CONCURRENCY": str(targets.WORKERS),
        "PYTHONUNBUFFERED": "1",  # as the image sets it: log lines reach stdout before a kill -9
    } | overrides


def manage(environment: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """``python manage.py ARGS`` in app/ with ``environment``; raises with its output on failure."""
    out = subprocess.run([str(targets.VENV_BIN / "python"), "manage.py", *args], cwd=targets.APP,
                         env=environment, capture_output=True, text=True, timeout=timeout)
    if out.returncode:
        raise RuntimeError(f"manage.py {' '.join(args)} exited {out.returncode}:\n{out.stdout}\n{out.stderr}")
    return out


def release(environment: dict[str, str]) -> float:
    """Run the Procfile's release command (migrations); seconds it took."""
    argv = targets.venv_argv(targets.procfile()["release"])
    started = time.monotonic()
    out = subprocess.run(argv, cwd=targets.APP, env=environment, capture_output=True, text=True, timeout=300)
    if out.returncode:
        raise RuntimeError(f"release exited {out.returncode}:\n{out.stdout}\n{out.stderr}")
    return time.monotonic() - started


SEED = """
import json
import time
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.test import Client
from documents.models import Document

user, _ = get_user_model().objects.get_or_create(username={username!r})
Document.objects.filter(owner=user).delete()
for i in range({count}):
    doc = Document(owner=user, original_name=f"seed-{{i}}.txt")
    doc.file.save(doc.original_name, ContentFile(b"seed document %d" % i), save=False)
    doc.save()
client = Client()
client.force_login(user)
# A client keeps the csrftoken cookie the first signed-in answer gave it, as a browser does.
client.get("/api/documents/", HTTP_HOST="127.0.0.1", secure=True)
print(json.dumps({{"cookie": "; ".join(f"{{name}}={{client.cookies[name].value}}"
                                      for name in (settings.SESSION_COOKIE_NAME, settings.CSRF_COOKIE_NAME))}}))
"""


def seed_user(environment: dict[str, str]) -> str:
    """Create the bench user with a page of documents; a Cookie header with its session and csrftoken."""
    out = manage(environment, "shell", "-c", SEED.format(username=USERNAME, count=DOCUMENTS_LISTED))
    return json.loads(out.stdout.strip().splitlines()[-1])["cookie"]


def web_target(environment: dict[str, str], cookie: str, bin_dir: Path = targets.VENV_BIN,
               name: str = "ours", label: str = "ours", wsgi: str | None = None) -> targets.Target:
    """Our web process as the Procfile runs it (optionally another WSGI callable or gunicorn venv)."""
    argv = targets.venv_argv(targets.procfile()["web"], bin_dir)
    if wsgi is not None:
        argv = [wsgi if arg == "config.wsgi" else arg for arg in argv]
        environment = environment | {"PYTHONPATH": str(harness.REPO)}
    return targets.Target(name, label, argv, targets.APP, environment, "/api/documents/",
                          db_headers={"Cookie": cookie}, views=("healthz", "documents"),
                          documents_path="/api/documents/", documents_headers={"Cookie": cookie})


def worker_argv(bin_dir: Path = targets.VENV_BIN) -> list[str]:
    return targets.venv_argv(targets.procfile()["worker"], bin_dir)
