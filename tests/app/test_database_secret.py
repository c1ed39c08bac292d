"""DATABASE_SECRET_ARN: the database password comes from Secrets Manager and survives rotation.

Real parts: a private PostgreSQL that checks SCRAM passwords (the shared one trusts everyone, so
it would accept any password) and moto's Secrets Manager server on loopback. The end-to-end cases
run the app's settings in a subprocess; the rotation cases drive the app's database backend with
its own connection object, so the suite's connection to its test database is never touched.
"""

from __future__ import annotations

import json
import logging
import shutil
import sys

import psycopg
import pytest
from django.db import OperationalError

from .helpers import app_env, free_port, manage, moto_server, run_app
from .private_postgres import PrivatePostgres, unavailable_reason

pytestmark = pytest.mark.skipif(unavailable_reason() is not None, reason=unavailable_reason() or "")

ROLE, DATABASE = "keel", "keel"

# Settings and a readiness report, as a web process computes them, without django.setup():
# the documents app imports boto3 on its own, and this checks the backend does not.
PROBE = """
import json, os, sys
os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
from django.conf import settings
from django.utils.log import configure_logging
configure_logging(settings.LOGGING_CONFIG, settings.LOGGING)
from config.health import readiness
boto3_at_start = "boto3" in sys.modules
report = readiness()
print("PROBE " + json.dumps({"boto3_at_start": boto3_at_start, "boto3_after": "boto3" in sys.modules, "report": report}))
"""


@pytest.fixture(scope="module")
def postgres():
    server = PrivatePostgres.start()
    try:
        server.create_login(ROLE, "first-password-9f2c", DATABASE)
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def secrets_endpoint():
    yield from moto_server()


@pytest.fixture
def secrets(secrets_endpoint):
    import boto3

    return boto3.client("secretsmanager", endpoint_url=secrets_endpoint, region_name="us-east-1")


@pytest.fixture
def in_process(secrets_endpoint, monkeypatch, django_db_blocker):
    """The backend in this process, pointed at moto, with a clean password cache before and after."""
    from config.postgres import password

    monkeypatch.setenv("AWS_ENDPOINT_URL", secrets_endpoint)
    password.forget()
    with django_db_blocker.unblock():
        yield
    password.forget()


def create_secret(secrets, name: str, password: str) -> str:
    value = json.dumps({"username": ROLE, "password": password, "engine": "postgres"})
    return secrets.create_secret(Name=name, SecretString=value)["ARN"]


def rotate(postgres, secrets, arn: str, password: str) -> None:
    """What RDS's managed rotation does: a new password on the role and in the secret."""
    postgres.set_password(ROLE, password)
    secrets.put_secret_value(SecretId=arn, SecretString=json.dumps({"username": ROLE, "password": password}))


def backend(postgres, arn: str, password: str = "settings-password-is-stale"):
    """The app's database backend with its own settings (never the suite's connection)."""
    from config.postgres.base import DatabaseWrapper

    settings_dict = {
        "ENGINE": "config.postgres", "NAME": DATABASE, "USER": ROLE, "PASSWORD": password,
        "HOST": "127.0.0.1", "PORT": postgres.port, "OPTIONS": {"connect_timeout": 5},
        "PASSWORD_SECRET_ARN": arn, "ATOMIC_REQUESTS": False, "AUTOCOMMIT": True, "CONN_MAX_AGE": 0,
        "CONN_HEALTH_CHECKS": False, "TIME_ZONE": None, "TEST": {},
    }
    return DatabaseWrapper(settings_dict, alias="secret-test")


def current_user(wrapper) -> str:
    try:
        with wrapper.cursor() as cursor:
            cursor.execute("SELECT current_user")
            return cursor.fetchone()[0]
    finally:
        wrapper.close()


def probe(postgres, secrets_endpoint, **changes) -> dict:
    env = app_env(**{
        "DATABASE_URL": postgres.url(ROLE, "url-password-is-stale", DATABASE), "AWS_ENDPOINT_URL": secrets_endpoint,
        "DATABASE_PASSWORD": None, "DATABASE_SECRET_ARN": None, **changes,
    })
    result = run_app([sys.executable, "-c", PROBE], env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    outcome = next(json.loads(line.removeprefix("PROBE ")) for line in lines if line.startswith("PROBE "))
    return {**outcome, "log": [json.loads(line) for line in lines if not line.startswith("PROBE ")]}


def test_a_web_process_connects_with_the_secrets_password_over_stale_ones(postgres, secrets_endpoint, secrets):
    password = "first-password-9f2c"
    arn = create_secret(secrets, "keel/e2e", password)
    postgres.set_password(ROLE, password)

    outcome = probe(postgres, secrets_endpoint, DATABASE_SECRET_ARN=arn, DATABASE_PASSWORD="injected-at-start-stale")

    assert outcome["report"]["checks"]["database"] == {"ok": True, "ms": outcome["report"]["checks"]["database"]["ms"]}
    assert outcome["boto3_at_start"] is False  # read on the first connection, not at import
    assert outcome["boto3_after"] is True


def test_without_a_secret_database_password_wins_over_the_url_and_boto3_is_never_loaded(postgres, secrets_endpoint):
    postgres.set_password(ROLE, "plain-password-31ad")

    outcome = probe(postgres, secrets_endpoint, DATABASE_PASSWORD="plain-password-31ad")

    assert outcome["report"]["checks"]["database"]["ok"] is True
    assert outcome["boto3_after"] is False


def test_readiness_reports_an_unreadable_secret_as_a_database_failure(postgres, secrets_endpoint):
    missing = "arn:aws:secretsmanager:us-east-1:123456789012:secret:keel/missing-AbCdEf"

    outcome = probe(postgres, secrets_endpoint, DATABASE_SECRET_ARN=missing)

    assert outcome["report"]["failing"] == ["database"]
    error = outcome["report"]["checks"]["database"]["error"]
    assert error.startswith(f"OperationalError: DATABASE_SECRET_ARN: secret {missing} cannot be read")
    assert "ResourceNotFoundException" in error
    logged = [line for line in outcome["log"] if line["level"] == "ERROR"]
    assert any("DATABASE_SECRET_ARN" in line["message"] and missing in line["message"] for line in logged)


@pytest.mark.usefixtures("in_process")
def test_after_a_rotation_a_running_process_opens_new_connections(postgres, secrets):
    arn = create_secret(secrets, "keel/rotated", "before-rotation-5e1b")
    postgres.set_password(ROLE, "before-rotation-5e1b")
    wrapper = backend(postgres, arn)
    assert current_user(wrapper) == ROLE  # the password is now cached in this process

    rotate(postgres, secrets, arn, "after-rotation-77c0")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(postgres.url(ROLE, "before-rotation-5e1b", DATABASE)).close()  # the cached one is dead

    assert current_user(wrapper) == ROLE  # a new connection: refused once, secret re-read, retried
    assert current_user(backend(postgres, arn)) == ROLE  # and the fresh password is what is cached now


@pytest.mark.usefixtures("in_process")
def test_a_wrong_password_in_the_secret_is_a_clear_error_naming_the_variable(postgres, secrets, caplog):
    postgres.set_password(ROLE, "the-real-password-0b7d")
    arn = create_secret(secrets, "keel/wrong", "not-the-password-4c4c")
    wrapper = backend(postgres, arn, password="the-real-password-0b7d")  # the secret wins, even when wrong

    with caplog.at_level(logging.INFO, logger="config.postgres"), pytest.raises(OperationalError) as failure:
        current_user(wrapper)

    message = str(failure.value)
    assert message.startswith(f"DATABASE_SECRET_ARN: the database refused the password in secret {arn}")
    assert "password authentication failed" in message
    assert "not-the-password-4c4c" not in message
    errors = [record.getMessage() for record in caplog.records if record.levelno == logging.ERROR]
    assert errors == [message]


@pytest.mark.usefixtures("in_process")
def test_when_secrets_manager_is_down_the_last_password_keeps_working(postgres, secrets, monkeypatch, caplog):
    from config.postgres import password

    arn = create_secret(secrets, "keel/outage", "still-valid-2a9e")
    postgres.set_password(ROLE, "still-valid-2a9e")
    wrapper = backend(postgres, arn)
    assert current_user(wrapper) == ROLE
    monkeypatch.setattr(password, "MAX_AGE", 0.0)  # the cached password is due for a re-read...
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")  # ...and nothing answers
    monkeypatch.setattr(password, "_clients", {})

    with caplog.at_level(logging.WARNING, logger="config.postgres"):
        assert current_user(wrapper) == ROLE

    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 1 and warnings[0].startswith(f"DATABASE_SECRET_ARN: secret {arn} cannot be read")
    assert "still using the password read" in warnings[0]


@pytest.mark.skipif(shutil.which("psql") is None, reason="needs psql")
def test_dbshell_uses_the_secrets_password(postgres, secrets_endpoint, secrets):
    arn = create_secret(secrets, "keel/dbshell", "shell-password-6d3a")
    postgres.set_password(ROLE, "shell-password-6d3a")
    env = app_env(DATABASE_URL=postgres.url(ROLE, "url-password-is-stale", DATABASE),
                  AWS_ENDPOINT_URL=secrets_endpoint, DATABASE_SECRET_ARN=arn)

    result = manage("dbshell", "--", "-At", "-c", "SELECT current_user", env=env)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == ROLE


@pytest.mark.usefixtures("in_process")
def test_threads_that_connect_together_after_a_rotation_all_get_in(postgres, secrets):
    from concurrent.futures import ThreadPoolExecutor

    arn = create_secret(secrets, "keel/threads", "before-rotation-c41e")
    postgres.set_password(ROLE, "before-rotation-c41e")
    assert current_user(backend(postgres, arn)) == ROLE
    rotate(postgres, secrets, arn, "after-rotation-a8f3")

    with ThreadPoolExecutor(max_workers=4) as pool:  # gthread workers: several requests at once
        users = list(pool.map(lambda _: current_user(backend(postgres, arn)), range(4)))

    assert users == [ROLE] * 4
