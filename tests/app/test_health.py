"""/healthz and /readyz: answered before host validation and the HTTPS redirect."""

from __future__ import annotations

import json
import time

import pytest
from config import contract
from django.test import Client, override_settings

PROBE = {"HTTP_HOST": "10.0.1.23"}  # the load balancer probes the task's IP over plain HTTP
# What the internet's requests look like once the ALB forwarded them: it appends X-Forwarded-For.
FROM_THE_INTERNET = {**PROBE, "HTTP_X_FORWARDED_FOR": "203.0.113.9"}
DEAD_REDIS = "redis://127.0.0.1:9/0"  # port 9 (discard): nothing listens on loopback


@pytest.fixture(autouse=True)
def fresh_readiness():
    """Each test sees its own run of the checks, and leaves no kept database connection behind
    (it would block dropping the test database)."""
    from config import health

    health.forget_cached_report()
    yield
    health.close_check_connections()
    health.forget_cached_report()


def test_liveness_answers_a_plain_http_probe_with_the_task_ip_as_host():
    response = Client().get(contract.HEALTH_PATH, **PROBE)

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response["Cache-Control"] == "no-store"


def test_liveness_accepts_a_trailing_slash():
    assert Client().get(contract.HEALTH_PATH + "/", **PROBE).status_code == 200


def test_the_same_probe_on_another_path_is_refused():
    # Proves the bypass is specific to the health paths: ALLOWED_HOSTS still guards the app.
    assert Client().get("/accounts/login/", **PROBE).status_code == 400
    assert Client().get("/accounts/login/").status_code == 301  # plain HTTP is redirected to HTTPS


def test_liveness_touches_no_backing_service(settings):
    # No django_db mark: pytest-django makes any database access an error in this test.
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": DEAD_REDIS}}
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:9/1"
    assert Client().get(contract.HEALTH_PATH, **PROBE).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_readiness_reports_each_backing_service_with_its_timing():
    response = Client().get(contract.READY_PATH, **PROBE)

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["failing"] == []
    assert set(body["checks"]) == {"database", "cache", "broker"}
    for check in body["checks"].values():
        assert check["ok"] is True
        assert isinstance(check["ms"], float)


@pytest.mark.django_db(transaction=True)
def test_readiness_names_each_failing_component_and_its_error():
    caches = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": DEAD_REDIS}}
    with override_settings(CACHES=caches, CELERY_BROKER_URL="redis://127.0.0.1:9/1"):
        response = Client().get(contract.READY_PATH, **PROBE)

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["failing"] == ["cache", "broker"]
    assert body["checks"]["database"]["ok"] is True
    for name in ("cache", "broker"):
        assert body["checks"][name]["ok"] is False
        assert "ConnectionError" in body["checks"][name]["error"]


def test_readiness_is_bounded_when_a_service_hangs(monkeypatch):
    import threading

    from config import health

    release = threading.Event()
    monkeypatch.setattr(health, "CHECK_TIMEOUT", 0.2)
    monkeypatch.setitem(health.CHECKS, "database", lambda: release.wait(5))
    monkeypatch.setitem(health.CHECKS, "cache", lambda: None)
    monkeypatch.setitem(health.CHECKS, "broker", lambda: None)
    try:
        report = health.readiness()
    finally:
        release.set()

    assert report["failing"] == ["database"]
    assert report["checks"]["database"]["error"] == "no answer within 0.2 s"


def wsgi_get(path: str, **environ) -> tuple[str, dict, bytes]:
    """One request through gunicorn's entry point, config.wsgi.application, as gunicorn calls it."""
    from wsgiref.util import setup_testing_defaults

    from config.wsgi import application

    environ = {"PATH_INFO": path, "HTTP_HOST": "10.0.1.23", "wsgi.url_scheme": "http", **environ}
    setup_testing_defaults(environ)
    answer = {}
    result = application(environ, lambda status, headers: answer.update(status=status, headers=headers))
    try:
        body = b"".join(result)
    finally:
        if hasattr(result, "close"):  # as a server does: Django's request_finished runs here
            result.close()
    return answer["status"], dict(answer["headers"]), body


def test_the_wsgi_entry_point_answers_liveness_without_django(monkeypatch):
    import config.wsgi

    def django_must_not_run(environ, start_response):
        raise AssertionError("the probe reached Django's handler")

    monkeypatch.setattr(config.wsgi, "django_application", django_must_not_run)
    for path in (contract.HEALTH_PATH, contract.HEALTH_PATH + "/"):
        status, headers, body = wsgi_get(path, HTTP_X_REQUEST_ID="probe-7")
        assert (status, json.loads(body)) == ("200 OK", {"status": "ok"})
        assert headers["Cache-Control"] == "no-store" and headers["X-Request-ID"] == "probe-7"
        assert headers["Content-Type"] == "application/json" and int(headers["Content-Length"]) == len(body)
    _, headers, _ = wsgi_get(contract.HEALTH_PATH, HTTP_X_REQUEST_ID="bad id\nInjected: 1")
    assert len(headers["X-Request-ID"]) == 32  # an unsafe id is replaced, as the middleware does


def test_the_wsgi_entry_point_sends_every_other_path_to_django():
    # Host validation and the HTTPS redirect still guard everything but the probe.
    assert wsgi_get("/accounts/login/")[0].startswith("400")
    assert wsgi_get("/accounts/login/", HTTP_HOST="testserver")[0].startswith("301")
    assert wsgi_get(contract.HEALTH_PATH + "x")[0].startswith("400")
@pytest.mark.django_db(transaction=True)
def test_readiness_from_the_internet_shows_names_and_timings_but_no_error_text():
    caches = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": DEAD_REDIS}}
    with override_settings(CACHES=caches, CELERY_BROKER_URL="redis://127.0.0.1:9/1"):
        response = Client().get(contract.READY_PATH, **FROM_THE_INTERNET)

    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["cache", "broker"]
    assert all(set(check) == {"ok", "ms"} for check in body["checks"].values())
    text = response.content.decode()
    assert "127.0.0.1" not in text and "Error" not in text and "refused" not in text


@pytest.mark.django_db(transaction=True)
def test_a_flood_of_100_probes_opens_at_most_a_handful_of_database_connections():
    import threading
    from concurrent.futures import ThreadPoolExecutor

    import psycopg
    from django.db import connection

    database = connection.settings_dict["NAME"]
    seen: set[tuple[int, object]] = set()
    stop = threading.Event()

    def watch() -> None:
        """Every backend connected to the test database, sampled every few milliseconds."""
        params = {**connection.get_connection_params(), "dbname": "postgres"}
        with psycopg.connect(**params, autocommit=True) as watcher:
            while not stop.is_set():
                rows = watcher.execute("SELECT pid, backend_start FROM pg_stat_activity WHERE datname = %s "
                                       "AND pid <> pg_backend_pid()", [database]).fetchall()
                seen.update(rows)
                time.sleep(0.003)

    connection.close()  # the test's own connection is not a probe's
    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        time.sleep(0.2)
        with ThreadPoolExecutor(max_workers=10) as pool:
            statuses = list(pool.map(lambda _: Client().get(contract.READY_PATH, **FROM_THE_INTERNET).status_code,
                                     range(100)))
        time.sleep(0.2)
    finally:
        stop.set()
        watcher.join()

    assert statuses == [200] * 100
    assert 1 <= len(seen) <= 3, seen
