"""Production-mode security settings: what `check --deploy` demands, and what browsers receive."""

from __future__ import annotations

import pytest
from django.test import Client

from .helpers import app_env, manage


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
