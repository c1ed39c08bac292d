"""Pytest plugin: a complete production-mode environment before pytest-django sets Django up.

pytest-django imports ``config.settings`` in ``pytest_load_initial_conftests``, before any
conftest.py is imported, and ``config.settings`` validates the environment on import. So
the environment is completed here, in a module loaded with ``-p tests.app.bootstrap``
(pyproject addopts), which pytest imports before that hook runs. See tests/conftest.py.
"""

from __future__ import annotations

import os
import secrets
import socket

TEST_BUCKET = "keel-test-media"
TEST_REGION = "us-east-1"
DEFAULT_SERVICES = {
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/keel",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "CELERY_BROKER_URL": "redis://127.0.0.1:6379/1",
}


def free_loopback_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def production_test_environment() -> dict[str, str]:
    """The variables the suite runs with: production mode, moto's S3 endpoint, fake AWS keys."""
    return {
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "testserver,localhost,127.0.0.1",
        "DJANGO_CSRF_TRUSTED_ORIGINS": "https://testserver",
        "AWS_STORAGE_BUCKET_NAME": TEST_BUCKET,
        "AWS_S3_REGION_NAME": TEST_REGION,
        "AWS_S3_ENDPOINT_URL": f"http://127.0.0.1:{free_loopback_port()}",
        # Fake credentials: boto3 must never find a developer's real ones during tests.
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": TEST_REGION,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_CONFIG_FILE": os.devnull,
        "LOG_FORMAT": "json",
    }


def bootstrap() -> None:
    """Fill os.environ once per test run (subprocesses started by tests inherit it)."""
    if os.environ.get("KEEL_TEST_ENV") == "1":
        return  # already done (e.g. a pytest run inside a test)
    for name, default in DEFAULT_SERVICES.items():
        os.environ.setdefault(name, default)
    os.environ.update(production_test_environment())
    os.environ.pop("AWS_PROFILE", None)
    os.environ["KEEL_TEST_ENV"] = "1"


bootstrap()
