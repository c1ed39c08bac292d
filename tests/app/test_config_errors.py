"""A bad environment stops every process before it serves: one line per problem, no traceback.

Each case runs ``python manage.py check`` as a real subprocess in production mode (the
test environment, with one variable broken) and reads what an operator would read.
"""

from __future__ import annotations

import sys

import pytest

from .helpers import app_env, manage, run_app

EX_CONFIG = 78

# (case id, changes to the valid production environment, variable named, words in its line)
CASES = [
    ("database-url-missing", {"DATABASE_URL": None}, "DATABASE_URL", "is missing"),
    ("database-url-empty", {"DATABASE_URL": ""}, "DATABASE_URL", "is set but empty"),
    ("database-url-scheme", {"DATABASE_URL": "mysql://u:p@db/keel"}, "DATABASE_URL", "scheme 'mysql'"),
    ("database-url-not-url", {"DATABASE_URL": "db.internal:5432"}, "DATABASE_URL", "is not a URL"),
    ("database-url-no-name", {"DATABASE_URL": "postgres://u@127.0.0.1:5432"}, "DATABASE_URL", "names no database"),
    ("database-url-bad-port", {"DATABASE_URL": "postgres://u@h:port/keel"}, "DATABASE_URL", "not a valid URL"),
    ("redis-url-missing", {"REDIS_URL": None}, "REDIS_URL", "is missing"),
    ("redis-url-scheme", {"REDIS_URL": "http://127.0.0.1:6379/0"}, "REDIS_URL", "scheme 'http'"),
    ("redis-url-db", {"REDIS_URL": "redis://127.0.0.1:6379/cache"}, "REDIS_URL", "is not a number"),
    ("rediss-cert-reqs", {"REDIS_URL": "rediss://h:6380/0?ssl_cert_reqs=maybe"}, "REDIS_URL", "ssl_cert_reqs"),
    ("broker-same-db", {"CELERY_BROKER_URL": "redis://127.0.0.1:6379/0", "REDIS_URL": "redis://127.0.0.1:6379/0"},
     "CELERY_BROKER_URL", "same Redis database"),
    ("broker-scheme", {"CELERY_BROKER_URL": "amqp://guest@rabbit//"}, "CELERY_BROKER_URL", "scheme 'amqp'"),
    ("port-not-int", {"PORT": "eighty"}, "PORT", "is not a whole number"),
    ("port-zero", {"PORT": "0"}, "PORT", "below the minimum 1"),
    ("port-too-big", {"PORT": "70000"}, "PORT", "above the maximum 65535"),
    ("port-empty", {"PORT": ""}, "PORT", "is set but empty"),
    ("web-concurrency", {"WEB_CONCURRENCY": "two"}, "WEB_CONCURRENCY", "is not a whole number"),
    ("visibility-timeout", {"CELERY_VISIBILITY_TIMEOUT": "5"}, "CELERY_VISIBILITY_TIMEOUT", "below the minimum 10"),
    ("log-format", {"LOG_FORMAT": "xml"}, "LOG_FORMAT", "is not one of json, console"),
    ("log-level", {"LOG_LEVEL": "chatty"}, "LOG_LEVEL", "is not one of DEBUG"),
    ("debug-word", {"DJANGO_DEBUG": "maybe"}, "DJANGO_DEBUG", "is not a boolean"),
    ("secret-key-missing", {"DJANGO_SECRET_KEY": None}, "DJANGO_SECRET_KEY", "is missing"),
    ("secret-key-short", {"DJANGO_SECRET_KEY": "s3cr3t-but-short"}, "DJANGO_SECRET_KEY", "is too short"),
    ("secret-key-insecure", {"DJANGO_SECRET_KEY": "django-insecure-" + "x7Hq9" * 12}, "DJANGO_SECRET_KEY",
     "django-insecure-"),
    ("secret-key-repetitive", {"DJANGO_SECRET_KEY": "abab" * 20}, "DJANGO_SECRET_KEY", "not random enough"),
    ("allowed-hosts-missing", {"DJANGO_ALLOWED_HOSTS": None}, "DJANGO_ALLOWED_HOSTS", "is missing"),
    ("allowed-hosts-url", {"DJANGO_ALLOWED_HOSTS": "https://app.example.com"}, "DJANGO_ALLOWED_HOSTS", "is a URL"),
    ("csrf-origin-bare", {"DJANGO_CSRF_TRUSTED_ORIGINS": "app.example.com"}, "DJANGO_CSRF_TRUSTED_ORIGINS",
     "write https://app.example.com"),
    ("database-secret-arn", {"DATABASE_SECRET_ARN": "rds!db-0123abcd"}, "DATABASE_SECRET_ARN",
     "is not a Secrets Manager secret ARN"),
    ("https-word", {"DJANGO_HTTPS": "sometimes"}, "DJANGO_HTTPS", "is not a boolean"),
    ("bucket-missing", {"AWS_STORAGE_BUCKET_NAME": None}, "AWS_STORAGE_BUCKET_NAME", "is missing"),
    ("s3-endpoint-scheme", {"AWS_S3_ENDPOINT_URL": "ftp://127.0.0.1:9000"}, "AWS_S3_ENDPOINT_URL", "scheme 'ftp'"),
    ("email-url-scheme", {"EMAIL_URL": "sendgrid://key@api"}, "EMAIL_URL", "scheme 'sendgrid'"),
    ("email-url-ses-region", {"EMAIL_URL": "ses://europe"}, "EMAIL_URL", "is not an AWS region"),
    ("email-url-plain-password", {"EMAIL_URL": "smtp://u:pw@smtp.example.com:25", "EMAIL_FROM": "a@example.com"},
     "EMAIL_URL", "unencrypted"),
    ("email-from-localhost", {"EMAIL_URL": "ses://eu-west-1"}, "EMAIL_FROM", "cannot send through ses://"),
    ("email-from-not-address", {"EMAIL_FROM": "noreply"}, "EMAIL_FROM", "is not an email address"),
    ("max-bytes-negative", {"DOCUMENT_MAX_BYTES": "-1"}, "DOCUMENT_MAX_BYTES", "below the minimum 1"),
    ("retention-not-int", {"DOCUMENT_RETENTION_DAYS": "30d"}, "DOCUMENT_RETENTION_DAYS", "is not a whole number"),
]


def problem_lines(stderr: str) -> list[str]:
    return [line.strip() for line in stderr.splitlines() if line.startswith("  ")]


@pytest.mark.parametrize(("changes", "name", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_variable_stops_manage_py_with_one_line_naming_it(changes, name, words):
    result = manage("check", env=app_env(**changes))

    assert result.returncode == EX_CONFIG
    assert "Traceback" not in result.stderr
    lines = problem_lines(result.stderr)
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"{name}: ")
    assert words in lines[0]
    assert "Example: " in lines[0]
    assert "System check" not in result.stdout  # nothing ran


def test_every_problem_is_reported_at_once():
    env = app_env(DATABASE_URL=None, PORT="x", LOG_FORMAT="yaml", DJANGO_SECRET_KEY="weak")
    result = manage("check", env=env)

    assert result.returncode == EX_CONFIG
    named = sorted(line.split(":", 1)[0] for line in problem_lines(result.stderr))
    assert named == ["DATABASE_URL", "DJANGO_SECRET_KEY", "LOG_FORMAT", "PORT"]
    assert "(4 problems)" in result.stderr


def test_secret_values_are_never_echoed():
    env = app_env(DATABASE_URL="mysql://keel:hunter2-very-secret@db/keel", DJANGO_SECRET_KEY="tiny-secret-value")
    result = manage("check", env=env)

    assert result.returncode == EX_CONFIG
    assert "hunter2-very-secret" not in result.stderr + result.stdout
    assert "tiny-secret-value" not in result.stderr + result.stdout


def test_non_secret_values_are_quoted_to_help_fixing_them():
    result = manage("check", env=app_env(LOG_LEVEL="chatty"))
    assert "'chatty'" in result.stderr


def test_debug_mode_needs_no_production_variables():
    env = app_env(DJANGO_DEBUG="true", DJANGO_SECRET_KEY=None, DJANGO_ALLOWED_HOSTS=None,
                  AWS_STORAGE_BUCKET_NAME=None)
    result = manage("check", env=env)
    assert result.returncode == 0, result.stderr


def test_gunicorn_master_refuses_to_start_on_bad_config():
    env = app_env(DATABASE_URL=None, PORT="http")
    result = run_app([sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "config.wsgi"], env)

    assert result.returncode == EX_CONFIG
    assert "Traceback" not in result.stderr
    assert [line.split(":", 1)[0] for line in problem_lines(result.stderr)] == ["DATABASE_URL", "PORT"]
    assert "Booting worker" not in result.stdout + result.stderr


@pytest.mark.parametrize("process", [["worker"], ["beat", "--schedule", "/tmp/keel-test-beat"]])
def test_celery_refuses_to_start_on_bad_config(process):
    env = app_env(REDIS_URL="redis://127.0.0.1:6379/x")
    result = run_app([sys.executable, "-m", "celery", "--app", "config.celery", *process], env)

    assert result.returncode == EX_CONFIG
    assert "Traceback" not in result.stderr
    assert problem_lines(result.stderr)[0].startswith("REDIS_URL: ")
