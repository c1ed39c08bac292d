"""Every /api/ answer is JSON of one shape, {"error": ..., "status": ...}, whichever layer fails."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import requests

from tests.app.helpers import APP_DIR, app_env, free_port, manage, wait_for_port
from tests.app.private_postgres import PrivatePostgres, unavailable_reason


def assert_json_error(response, status: int) -> dict:
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"error", "status"} and body["status"] == status
    return body


@pytest.mark.django_db(transaction=True)
def test_a_1kb_filename_is_a_json_400_not_an_html_page(browser):
    response = browser.upload(b"data", name="a" * 1024 + ".txt")

    body = assert_json_error(response, 400)
    assert "multipart" in body["error"]


def test_an_unknown_api_path_is_a_json_404(client):
    assert_json_error(client.get("/api/no-such-thing/"), 404)


def test_outside_the_api_errors_stay_html(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404 and response["Content-Type"].startswith("text/html")


@pytest.mark.django_db(transaction=True)
def test_an_unexpected_error_is_a_json_500_naming_the_request_id(browser, monkeypatch):
    from documents import api

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(api, "page_number", broken)
    browser.http.raise_request_exception = False
    response = browser.get("/api/documents/")

    body = assert_json_error(response, 500)
    assert response["X-Request-ID"] in body["error"] and "a bug" not in body["error"]


# --- A real database outage against the real web process ------------------------------------------
def cookie_header(jar: dict[str, str]) -> str:
    return "; ".join(f"{name}={value}" for name, value in jar.items())


def remember(jar: dict[str, str], response: requests.Response) -> None:
    for header in response.raw.headers.getlist("Set-Cookie"):
        name, value = header.split(";", 1)[0].split("=", 1)
        jar[name] = value


@pytest.fixture
def web_on_private_postgres():
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    server = PrivatePostgres.start()
    process = None
    try:
        server.create_login("keel", "keel-password", "keel")
        port = free_port()
        env = app_env(DATABASE_URL=server.url("keel", "keel-password", "keel"), PORT=str(port), WEB_CONCURRENCY="1")
        assert manage("migrate", "--noinput", env=env, timeout=120).returncode == 0
        made = manage("shell", "-c", "from django.contrib.auth.models import User; "
                      "User.objects.create_user('carol', password='a-long-enough-password-42')", env=env)
        assert made.returncode == 0, made.stderr
        process = subprocess.Popen([sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "config.wsgi"],
                                   cwd=APP_DIR, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(port, process)
        yield server, f"http://127.0.0.1:{port}"
    finally:
        if process is not None:
            process.kill()
            process.wait()
        if server.datadir.exists():  # the outage test stops it itself
            server.stop()


def test_a_database_outage_answers_every_api_call_with_json_503_and_retry_after(web_on_private_postgres):
    server, base = web_on_private_postgres
    https = {"X-Forwarded-Proto": "https", "Host": "testserver"}
    jar: dict[str, str] = {}
    form = requests.get(f"{base}/accounts/login/", headers=https, timeout=10)
    remember(jar, form)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
    signed_in = requests.post(
        f"{base}/accounts/login/", timeout=10, allow_redirects=False,
        data={"username": "carol", "password": "a-long-enough-password-42", "csrfmiddlewaretoken": token},
        headers={**https, "Cookie": cookie_header(jar), "Referer": "https://testserver/accounts/login/"},
    )
    assert signed_in.status_code == 302
    remember(jar, signed_in)
    session = {**https, "Cookie": cookie_header(jar), "X-CSRFToken": jar["csrftoken"], "Origin": "https://testserver"}
    assert requests.get(f"{base}/api/documents/", headers=session, timeout=10).status_code == 200

    server.stop()  # the database goes away; the session stays readable in Redis

    answers = [
        requests.get(f"{base}/api/documents/", headers=session, timeout=15),
        requests.post(f"{base}/api/documents/", headers=session, timeout=15, files={"file": ("a.txt", b"data")}),
        requests.get(f"{base}/api/documents/1/", headers=session, timeout=15),
    ]
    for answer in answers:
        assert answer.status_code == 503, answer.text[:200]
        assert answer.headers["Content-Type"] == "application/json"
        assert answer.headers["Retry-After"] == "5"
        assert answer.json()["status"] == 503 and set(answer.json()) == {"error", "status"}
