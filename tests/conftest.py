"""Suite-wide test setup.

Environment bootstrap
    ``tests/app/bootstrap.py`` is a pytest plugin loaded with ``-p tests.app.bootstrap`` (in
    pyproject's addopts). pytest imports it before pytest-django runs ``django.setup()``, which
    is earlier than any conftest.py, so Django always starts in PRODUCTION mode
    (``DJANGO_DEBUG=false``) with a complete, valid environment:

    * ``DATABASE_URL``, ``REDIS_URL``, ``CELERY_BROKER_URL``: kept when already set (give each
      concurrent run its own database and Redis indexes), else
      postgres://postgres@127.0.0.1:5432/keel, redis://127.0.0.1:6379/0 and /1;
    * a random 67-character ``DJANGO_SECRET_KEY``, ``DJANGO_ALLOWED_HOSTS`` with testserver;
    * bucket ``keel-test-media``, ``AWS_S3_ENDPOINT_URL=http://127.0.0.1:<free port picked at
      startup>``, fake AWS credentials and region ``us-east-1`` (real ones are never read).

    Subprocesses started by tests inherit this environment.

Fixtures
    ``s3_server`` (session): a real moto ``ThreadedMotoServer`` listening on the port of
        ``AWS_S3_ENDPOINT_URL`` with the bucket created; yields the endpoint URL.
    ``s3_client``: a boto3 S3 client for that server (to inspect what the app stored).
    ``client``: Django's test client, sending ``X-Forwarded-Proto: https`` as the load balancer
        does, so production-mode SSL redirects do not get in the way. Use ``django.test.Client()``
        directly to see what a plain-HTTP request gets.
    ``app_dir``: the path of ``app/`` (the cwd of every Procfile process).
    ``subprocess_env``: a copy of the test environment for subprocesses, with ``app/`` on PYTHONPATH.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

if os.environ.get("KEEL_TEST_ENV") != "1":  # pragma: no cover - a setup error, said plainly
    sys.exit("tests: run pytest with -p tests.app.bootstrap (pyproject addopts) so Django starts "
             "with the test environment")

REPO_ROOT = Path(__file__).resolve().parent.parent
APP_DIR = REPO_ROOT / "app"


@pytest.fixture(scope="session")
def app_dir() -> Path:
    return APP_DIR


@pytest.fixture
def subprocess_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(APP_DIR), env.get("PYTHONPATH")]))
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return env


@pytest.fixture(scope="session", autouse=True)
def collected_static():
    """Static files collected once, as the image build does, so pages render with the same
    hashed-name manifest storage as production (and WhiteNoise finds its STATIC_ROOT)."""
    from django.core.management import call_command

    call_command("collectstatic", interactive=False, verbosity=0)


@pytest.fixture(scope="session")
def s3_server():
    from moto.server import ThreadedMotoServer

    endpoint = os.environ["AWS_S3_ENDPOINT_URL"]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=urlsplit(endpoint).port, verbose=False)
    server.start()
    try:
        _s3(endpoint).create_bucket(Bucket=os.environ["AWS_STORAGE_BUCKET_NAME"])
        yield endpoint
    finally:
        server.stop()


@pytest.fixture
def s3_client(s3_server):
    return _s3(s3_server)


def _s3(endpoint: str):
    import boto3

    return boto3.client("s3", endpoint_url=endpoint, region_name=os.environ["AWS_S3_REGION_NAME"])


@pytest.fixture
def client():
    from django.test import Client

    return Client(headers={"X-Forwarded-Proto": "https"})
