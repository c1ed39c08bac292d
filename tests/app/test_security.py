"""Production-mode security settings: what `check --deploy` demands, and what browsers receive."""

from __future__ import annotations

import http.cookiejar
import os
import re
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from urllib.parse import urlsplit

import pytest
from django.db import connection
from django.test import Client

from .helpers import APP_DIR, app_env, free_port, json_lines, manage, wait_for_port

# What check --deploy says about a plain-HTTP (DJANGO_HTTPS=false) site: HSTS, redirect, two cookies.
PLAIN_HTTP_WARNINGS = {"security.W004", "security.W008", "security.W012", "security.W016"}


def test_check_deploy_passes_at_warning_level_in_production_mode():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=app_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_plain_http_is_redirected_to_https():
    response = Client().get("/accounts/login/")
    assert response.status_code == 301
    assert response["Location"] == "https://testserver/accounts/login/"


@pytest.mark.django_db  # ATOMIC_REQUESTS: every view runs in a transaction
def test_https_behind_the_load_balancer_gets_the_security_headers(client):
    response = client.get("/accounts/login/")

    assert response.status_code == 200
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"


@pytest.mark.django_db
def test_cookies_are_secure_and_csrf_protected(client, django_user_model):
    django_user_model.objects.create_user("ada", password="correct horse battery")
    csrf_client = Client(enforce_csrf_checks=True, headers={"X-Forwarded-Proto": "https"})

    assert csrf_client.post("/accounts/login/", {"username": "ada", "password": "x"}).status_code == 403
    page = csrf_client.get("/accounts/login/")
    token = page.cookies["csrftoken"]
    assert token["secure"]
    response = csrf_client.post(
        "/accounts/login/",
        {"username": "ada", "password": "correct horse battery", "csrfmiddlewaretoken": token.value},
        headers={"Referer": "https://testserver/accounts/login/"},
    )
    assert response.status_code == 302
    assert response.cookies["sessionid"]["secure"] and response.cookies["sessionid"]["httponly"]


def test_check_deploy_warns_about_each_https_setting_when_https_is_off():
    result = manage("check", "--deploy", env=app_env(DJANGO_HTTPS="false"))

    assert set(re.findall(r"\(security\.W\d+\)", result.stdout + result.stderr)) == {
        f"({code})" for code in PLAIN_HTTP_WARNINGS
    }


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # let the test see each 3xx itself


def _test_database_url() -> str:
    """DATABASE_URL naming pytest-django's test database, so the web process sees the test's user."""
    return urlsplit(os.environ["DATABASE_URL"])._replace(path="/" + connection.settings_dict["NAME"]).geturl()


@pytest.fixture
def plain_http_web():
    """The web process as a domainless (dev) stack runs it: production mode, DJANGO_HTTPS=false."""
    port = free_port()
    env = app_env(DJANGO_HTTPS="false", PORT=str(port), WEB_CONCURRENCY="1", DATABASE_URL=_test_database_url())
    process = subprocess.Popen([sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py"], cwd=APP_DIR,
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for_port(port, process)
        yield process, f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.communicate(timeout=60)


@pytest.mark.django_db(transaction=True)  # committed, so the web process sees the user
def test_without_https_a_domainless_stack_serves_plain_http_with_working_sessions(plain_http_web, django_user_model):
    process, base = plain_http_web
    django_user_model.objects.create_user("ada", password="correct horse battery")
    cookies = http.cookiejar.CookieJar()
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(cookies), _NoRedirect)

    with browser.open(f"{base}/accounts/login/") as page:  # plain HTTP, as the ALB forwards it
        assert page.status == 200
        assert "Strict-Transport-Security" not in page.headers
    token = next(cookie for cookie in cookies if cookie.name == "csrftoken")
    assert not token.secure  # a Secure cookie would never come back over http://
    form = urllib.parse.urlencode({"username": "ada", "password": "correct horse battery",
                                   "csrfmiddlewaretoken": token.value}).encode()
    with pytest.raises(urllib.error.HTTPError) as login:
        browser.open(f"{base}/accounts/login/", data=form)
    assert login.value.code == 302 and login.value.headers["Location"] == "/"
    session = next(cookie for cookie in cookies if cookie.name == "sessionid")
    assert not session.secure
    with browser.open(f"{base}/") as home:  # signed in: the documents page, not the login redirect
        assert home.status == 200 and "ada" in home.read().decode()

    process.terminate()
    output, _ = process.communicate(timeout=60)
    warnings = [line for line in json_lines(output) if "DJANGO_HTTPS is false" in line["message"]]
    assert [line["level"] for line in warnings] == ["WARNING"]  # one line, from the one worker
