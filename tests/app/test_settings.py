"""What the settings make of the environment: backing-service URLs, TLS, storage, broker default."""

from __future__ import annotations

import json
import ssl
import sys

import pytest
from config import env

from .helpers import app_env, run_app

DUMP = """
import json, config.settings as s
print(json.dumps({
    "database": s.DATABASES["default"], "cache": s.CACHES["default"]["LOCATION"],
    "sessions": s.CACHES["sessions"]["LOCATION"], "session_engine": s.SESSION_ENGINE,
    "broker": s.CELERY_BROKER_URL, "backend": s.CELERY_RESULT_BACKEND,
    "broker_ssl": getattr(s, "CELERY_BROKER_USE_SSL", None),
    "backend_ssl": getattr(s, "CELERY_REDIS_BACKEND_USE_SSL", None),
    "storage": s.STORAGES["default"], "upload_tmp": s.FILE_UPLOAD_TEMP_DIR,
}, default=str))
"""


def settings_for(**changes: str | None) -> dict:
    result = run_app([sys.executable, "-c", DUMP], app_env(**changes))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_database_url_with_sslmode_and_a_password_override():
    loaded = settings_for(
        DATABASE_URL="postgres://keel:stale@db.internal:5433/keel?sslmode=verify-full",
        DATABASE_PASSWORD="rotated-by-rds",
    )
    database = loaded["database"]
    assert (database["HOST"], database["PORT"], database["NAME"], database["USER"]) == ("db.internal", 5433, "keel", "keel")
    assert database["PASSWORD"] == "rotated-by-rds"  # the injected secret wins over the URL's
    assert database["OPTIONS"]["sslmode"] == "verify-full"
    assert database["OPTIONS"]["connect_timeout"] == 5
    assert database["CONN_MAX_AGE"] > 0 and database["CONN_HEALTH_CHECKS"] and database["ATOMIC_REQUESTS"]


def test_rediss_urls_verify_certificates_everywhere():
    loaded = settings_for(REDIS_URL="rediss://:tok@cache.internal:6380/0", CELERY_BROKER_URL=None)

    for name in ("cache", "sessions", "broker", "backend"):
        assert loaded[name].startswith("rediss://") and "ssl_cert_reqs=required" in loaded[name], name
    assert loaded["broker"].startswith("rediss://:tok@cache.internal:6380/1?")
    assert loaded["broker_ssl"] == {"ssl_cert_reqs": int(ssl.CERT_REQUIRED)}
    assert loaded["backend_ssl"] == {"ssl_cert_reqs": int(ssl.CERT_REQUIRED)}
    assert loaded["session_engine"] == "django.contrib.sessions.backends.cached_db"


def test_media_on_s3_is_private_and_presigned_without_static_keys():
    storage = settings_for()["storage"]
    assert storage["BACKEND"] == "documents.s3.DocumentS3Storage"
    options = storage["OPTIONS"]
    assert options["default_acl"] is None and options["querystring_auth"] is True
    assert "access_key" not in options and "secret_key" not in options  # the task role's credentials
    assert settings_for()["upload_tmp"] == "/tmp"  # the only writable path besides /dev/shm


def test_local_files_only_in_debug_mode():
    storage = settings_for(DJANGO_DEBUG="true", AWS_STORAGE_BUCKET_NAME=None)["storage"]
    assert storage["BACKEND"] == "django.core.files.storage.FileSystemStorage"


@pytest.mark.parametrize(("redis_url", "broker"), [
    ("redis://h:6379/0", "redis://h:6379/1"),
    ("redis://h:6379", "redis://h:6379/1"),
    ("redis://h:6379/1", "redis://h:6379/2"),  # never the cache's own database
    ("redis://:pw@h:6379/5", "redis://:pw@h:6379/1"),
])
def test_broker_defaults_to_redis_url_with_another_database(redis_url, broker):
    values = env.load({**_valid(), "REDIS_URL": redis_url})
    assert values["CELERY_BROKER_URL"] == broker


def test_an_explicit_broker_url_is_kept():
    values = env.load({**_valid(), "CELERY_BROKER_URL": "redis://queue.internal:6379/0"})
    assert values["CELERY_BROKER_URL"] == "redis://queue.internal:6379/0"


def test_lists_and_choices_are_parsed_leniently():
    values = env.load({**_valid(), "DJANGO_ALLOWED_HOSTS": " a.example.com, ,b.example.com ", "LOG_LEVEL": "debug"})
    assert values["DJANGO_ALLOWED_HOSTS"] == ["a.example.com", "b.example.com"]
    assert values["LOG_LEVEL"] == "DEBUG"


def _valid() -> dict[str, str]:
    return {
        "DJANGO_SECRET_KEY": "k" * 10 + "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGH",
        "DJANGO_ALLOWED_HOSTS": "app.example.com",
        "DATABASE_URL": "postgres://keel@db/keel",
        "REDIS_URL": "redis://cache:6379/0",
        "AWS_STORAGE_BUCKET_NAME": "bucket",
    }
