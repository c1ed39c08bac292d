"""What the web process loads at start: nothing it does not need to serve (issue 8's cold-start goal).

Each test runs a fresh interpreter in production mode, as gunicorn's master does with
``preload_app``, because in this test process Django and its clients are long loaded.
"""

from __future__ import annotations

import json
import os
import sys
from urllib.parse import urlsplit

import pytest
import redis
from django.conf import settings
from django.db import connection

from .helpers import app_env, run_app

# Heavy clients that web start-up must never import: S3 (boto3), Celery (kombu, redis), Pulumi.
NOT_AT_START = ("boto3", "botocore", "s3transfer", "celery", "kombu", "billiard", "redis", "pulumi", "pulumi_aws")

LOAD_AND_PROBE = """
import io, json, sys
import config.wsgi  # django.setup(): settings, every app's ready(), admin autodiscovery, middleware
import logging
logging.getLogger("gunicorn.error").info("Booting worker")  # the first line gunicorn logs at start

def probe(path):
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": path, "SERVER_NAME": "10.0.1.23", "SERVER_PORT": "8000",
               "HTTP_HOST": "10.0.1.23:8000", "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(),
               "wsgi.errors": sys.stderr}
    answer = {}
    body = b"".join(config.wsgi.application(environ, lambda status, headers: answer.update(status=status)))
    return answer["status"], json.loads(body)

loaded = lambda: sorted(name for name in NAMES if name in sys.modules)
after_start = loaded()
healthz = probe("/healthz")
after_healthz = loaded()
print(json.dumps({"after_start": after_start, "healthz": healthz, "after_healthz": after_healthz}))
"""


def run_fresh(script: str, **env: str) -> dict:
    """Run ``script`` in a new production-mode interpreter (cwd app/); its last stdout line as JSON."""
    result = run_app([sys.executable, "-c", f"NAMES = {NOT_AT_START!r}\n{script}"], app_env(**env), timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def test_web_start_up_and_healthz_load_no_heavy_client():
    assert settings.DEBUG is False  # the subprocess inherits this production-mode environment
    seen = run_fresh(LOAD_AND_PROBE)

    assert seen["after_start"] == []
    assert seen["healthz"] == ["200 OK", {"status": "ok"}]
    assert seen["after_healthz"] == []


@pytest.fixture
def test_database_url(db) -> str:
    """DATABASE_URL naming pytest-django's test database, which exists while the test runs."""
    url = urlsplit(os.environ["DATABASE_URL"])
    return url._replace(path="/" + connection.settings_dict["NAME"]).geturl()


def test_first_readiness_probe_of_a_fresh_process_passes_and_loads_redis_only_then(test_database_url):
    """The Redis client is imported by the first /readyz (outside the 2 s bounds), never at start."""
    seen = run_fresh(
        "import json, sys, config.wsgi\n"
        "before = sorted(name for name in NAMES if name in sys.modules)\n"
        "from config.health import readiness\n"
        "report = readiness()\n"
        "print(json.dumps({'before': before, 'report': report, 'redis': 'redis' in sys.modules}))\n",
        DATABASE_URL=test_database_url,
    )

    assert seen["before"] == []
    assert seen["report"]["status"] == "ok", seen["report"]
    assert set(seen["report"]["checks"]) == {"database", "cache", "broker"}
    assert seen["redis"] is True


def test_readiness_works_in_a_worker_forked_after_the_parent_probed(test_database_url):
    """gunicorn forks workers from its master: a child must not wait on its parent's check threads."""
    seen = run_fresh(
        "import json, os, config.wsgi\n"
        "from config.health import readiness\n"
        "parent = readiness()['status']\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    os._exit(0 if readiness()['status'] == 'ok' else 1)\n"
        "_, status = os.waitpid(pid, 0)\n"
        "print(json.dumps({'parent': parent, 'child_exit': os.waitstatus_to_exitcode(status)}))\n",
        DATABASE_URL=test_database_url,
    )

    assert seen == {"parent": "ok", "child_exit": 0}


@pytest.fixture
def default_queue():
    """The broker's default queue; whatever this test enqueued is taken out again."""
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    queue = "celery"
    before = set(client.lrange(queue, 0, -1))
    yield client, queue, before
    for message in set(client.lrange(queue, 0, -1)) - before:
        client.lrem(queue, 0, message)
    client.close()


def test_the_first_enqueue_in_web_binds_to_our_celery_app_and_broker(default_queue):
    """Web loads Celery on its first enqueue; the task must go to CELERY_BROKER_URL with our
    settings, not to a default app's amqp://localhost."""
    client, queue, before = default_queue
    document_id = 900_000_000 + os.getpid()  # no such row: a worker that took it would do nothing
    seen = run_fresh(
        "import json, sys, config.wsgi\n"
        "before = 'celery' in sys.modules\n"
        "from documents.storing import enqueue_processing\n"
        f"enqueue_processing({document_id})\n"
        "from celery import current_app\n"
        "from config.celery import app\n"
        "from documents.tasks import process_document\n"
        "print(json.dumps({'celery_before': before, 'current_is_ours': current_app._get_current_object() is app,\n"
        "                  'task_app_is_ours': process_document.app is app,\n"
        "                  'broker': current_app.conf.broker_url}))\n",
    )

    assert seen["celery_before"] is False
    assert seen["current_is_ours"] and seen["task_app_is_ours"]
    assert seen["broker"] == settings.CELERY_BROKER_URL
    sent = [json.loads(raw) for raw in set(client.lrange(queue, 0, -1)) - before]
    assert [(m["headers"]["task"], m["headers"]["argsrepr"]) for m in sent] == [
        ("documents.tasks.process_document", f"({document_id},)")
    ]
