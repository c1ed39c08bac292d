"""EMAIL_URL: what the settings make of it, and mail the app really sends."""

from __future__ import annotations

import json
import sys

import pytest

from .helpers import app_env, run_app

DUMP = """
import json, config.settings as s
names = ["EMAIL_BACKEND", "EMAIL_HOST", "EMAIL_PORT", "EMAIL_HOST_USER", "EMAIL_HOST_PASSWORD", "EMAIL_USE_TLS",
         "EMAIL_USE_SSL", "EMAIL_TIMEOUT", "USE_SES_V2", "AWS_SES_REGION_NAME", "AWS_SES_REGION_ENDPOINT_URL",
         "AWS_SES_CONFIGURATION_SET", "DEFAULT_FROM_EMAIL", "SERVER_EMAIL"]
print(json.dumps({name: getattr(s, name) for name in names}))
"""


def email_settings(**changes: str | None) -> dict:
    result = run_app([sys.executable, "-c", DUMP], app_env(**changes))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_smtp_with_starttls_and_an_encoded_password():
    loaded = email_settings(EMAIL_URL="smtp+tls://apikey:p%40ss%2Fword@smtp.example.com:587",
                            EMAIL_FROM="Keel <noreply@example.com>")
    assert loaded["EMAIL_BACKEND"] == "django.core.mail.backends.smtp.EmailBackend"
    assert (loaded["EMAIL_HOST"], loaded["EMAIL_PORT"]) == ("smtp.example.com", 587)
    assert (loaded["EMAIL_HOST_USER"], loaded["EMAIL_HOST_PASSWORD"]) == ("apikey", "p@ss/word")
    assert (loaded["EMAIL_USE_TLS"], loaded["EMAIL_USE_SSL"]) == (True, False)
    assert loaded["EMAIL_TIMEOUT"] == 10
    assert loaded["DEFAULT_FROM_EMAIL"] == loaded["SERVER_EMAIL"] == "Keel <noreply@example.com>"


def test_smtp_with_implicit_tls():
    loaded = email_settings(EMAIL_URL="smtp+ssl://u:pw@smtp.example.com:465", EMAIL_FROM="a@example.com")
    assert (loaded["EMAIL_PORT"], loaded["EMAIL_USE_TLS"], loaded["EMAIL_USE_SSL"]) == (465, False, True)


def test_ses_uses_the_api_with_boto3s_credentials_and_endpoint():
    loaded = email_settings(EMAIL_URL="ses://eu-west-1?configuration_set=transactional", EMAIL_FROM="a@example.com")
    assert loaded["EMAIL_BACKEND"] == "django_ses.SESBackend"
    assert loaded["USE_SES_V2"] is True
    assert loaded["AWS_SES_REGION_NAME"] == "eu-west-1"
    # None: boto3 resolves the endpoint (and honours AWS_ENDPOINT_URL_SESV2), no fixed host.
    assert loaded["AWS_SES_REGION_ENDPOINT_URL"] is None
    assert loaded["AWS_SES_CONFIGURATION_SET"] == "transactional"


@pytest.mark.parametrize(("debug", "backend"), [
    ("true", "django.core.mail.backends.console.EmailBackend"),
    ("false", "config.email.UnconfiguredBackend"),
])
def test_without_email_url_debug_prints_and_production_sends_nothing(debug, backend):
    assert email_settings(DJANGO_DEBUG=debug, EMAIL_URL=None)["EMAIL_BACKEND"] == backend


def test_console_on_request_in_production():
    loaded = email_settings(EMAIL_URL="consolemail://")
    assert loaded["EMAIL_BACKEND"] == "django.core.mail.backends.console.EmailBackend"
