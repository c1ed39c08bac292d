"""Logs: one JSON object per line with a request id on every line logged during a request."""

from __future__ import annotations

import io
import json
import logging

import pytest
from config.logs import ConsoleFormatter, ContextFilter, JsonFormatter, logging_config, set_redacted_values
from django.test import Client


@pytest.fixture
def log_lines():
    """What the root logger writes, formatted exactly as on stdout (JSON)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)


@pytest.mark.django_db
def test_the_callers_request_id_is_kept_beside_our_own_on_every_line_and_echoed(client, log_lines):
    response = client.get("/no-such-page/", headers={"X-Request-ID": "req-7f3a"})

    assert response.status_code == 404
    assert response["X-Request-ID"] == "req-7f3a"
    lines = [line for line in log_lines() if line["logger"] == "django.request"]
    assert lines and all(line["client_request_id"] == "req-7f3a" for line in lines)
    own = {line["request_id"] for line in lines}
    assert len(own) == 1 and len(own.pop()) == 32  # ours, never the caller's
    assert {"timestamp", "level", "logger", "message"} <= set(lines[0])


@pytest.mark.django_db
def test_two_requests_sending_the_same_id_keep_apart_in_the_logs(client, log_lines):
    for _ in range(2):
        client.get("/no-such-page/", headers={"X-Request-ID": "victim-request-1"})
    lines = [line for line in log_lines() if line["logger"] == "django.request"]
    assert len({line["request_id"] for line in lines}) == 2


def test_a_wrong_host_logs_one_line_without_a_traceback(log_lines):
    from django.test import Client

    response = Client().get("/accounts/login/", HTTP_HOST="attacker.example", HTTP_X_FORWARDED_PROTO="https")

    assert response.status_code == 400
    [line] = [line for line in log_lines() if line["logger"] == "django.security.DisallowedHost"]
    assert "attacker.example" in line["message"] and "exception" not in line
    assert len(json.dumps(line)) < 600


@pytest.mark.django_db
@pytest.mark.parametrize("sent", [None, "has spaces", "x" * 200, "line\nbreak"])
def test_a_missing_or_unsafe_request_id_is_replaced_by_a_generated_one(client, sent):
    headers = {"X-Request-ID": sent} if sent else {}
    generated = client.get("/accounts/login/", headers=headers)["X-Request-ID"]
    assert generated != sent and len(generated) == 32 and generated.isalnum()


def test_lines_outside_a_request_have_a_null_request_id(log_lines):
    logging.getLogger("keel.test").warning("between requests")
    line = [line for line in log_lines() if line["logger"] == "keel.test"][0]
    assert line["request_id"] is None
    assert line["level"] == "WARNING" and line["message"] == "between requests"
    assert line["timestamp"].endswith("Z")


def test_extra_fields_and_exceptions_stay_on_one_line(log_lines):
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("keel.test").exception("failed", extra={"document_id": 7})
    line = [line for line in log_lines() if line["logger"] == "keel.test"][0]
    assert line["document_id"] == 7
    assert "ValueError: boom" in line["exception"]


def test_known_secret_values_are_redacted(log_lines):
    from config import logs

    configured = logs._secrets
    set_redacted_values(["p4ssw0rd-from-env"])
    try:
        logging.getLogger("keel.test").error("connect to postgres://keel:p4ssw0rd-from-env@db/keel failed",
                                             extra={"url": "postgres://keel:p4ssw0rd-from-env@db/keel"})
    finally:
        set_redacted_values(configured)
    line = [line for line in log_lines() if line["logger"] == "keel.test"][0]
    assert "p4ssw0rd-from-env" not in json.dumps(line)
    assert "postgres://keel:***@db/keel" in line["message"]
    assert line["url"] == "postgres://keel:***@db/keel"


def test_settings_redact_the_configured_credentials():
    from config import logs
    from django.conf import settings

    assert settings.SECRET_KEY in logs._secrets


def test_console_format_is_for_humans():
    record = logging.LogRecord("keel.test", logging.INFO, __file__, 1, "hello %s", ("world",), None)
    ContextFilter().filter(record)
    text = ConsoleFormatter().format(record)
    assert text.endswith("INFO    keel.test [-] hello world")


def test_celery_and_gunicorn_loggers_propagate_to_the_one_stdout_handler():
    config = logging_config("INFO", "json")
    assert config["root"]["handlers"] == ["stdout"]
    assert config["handlers"]["stdout"]["stream"] == "ext://sys.stdout"
    for name in ("django", "gunicorn.error", "gunicorn.access", "celery"):
        assert config["loggers"][name] == {"handlers": [], "level": "INFO", "propagate": True}


@pytest.mark.django_db
def test_a_redis_outage_does_not_sign_users_out(settings, django_user_model):
    user = django_user_model.objects.create_user("grace", password="pw", is_staff=True, is_superuser=True)
    signed_in = Client(headers={"X-Forwarded-Proto": "https"})
    signed_in.force_login(user)
    assert signed_in.get("/admin/").status_code == 200

    dead = {"BACKEND": "config.cache.FailSoftRedisCache", "LOCATION": "redis://127.0.0.1:9/0"}
    settings.CACHES = {**settings.CACHES, "sessions": dead}
    response = signed_in.get("/admin/")
    assert response.status_code == 200  # the session came from its database copy
    assert response.context["user"] == user


def test_log_level_filters_what_reaches_stdout():
    import logging.config

    stream = io.StringIO()
    config = logging_config("WARNING", "json")
    config["handlers"]["stdout"]["stream"] = stream
    root = logging.getLogger()
    saved = (root.level, root.handlers[:])
    try:
        logging.config.dictConfig(config)
        logging.getLogger("keel.test").info("routine detail")
        logging.getLogger("gunicorn.access").info("GET /api/documents/ 200")  # an access line is INFO too
        logging.getLogger("keel.test").warning("needs attention")
    finally:
        from django.conf import settings

        logging.config.dictConfig(settings.LOGGING)  # the named loggers' levels
        root.setLevel(saved[0])
        root.handlers[:] = saved[1]  # pytest's capture handlers included
    messages = [json.loads(line)["message"] for line in stream.getvalue().splitlines()]
    assert messages == ["needs attention"]
