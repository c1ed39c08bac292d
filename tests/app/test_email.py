"""EMAIL_URL: what the settings make of it, and mail the app really sends."""

from __future__ import annotations

import email
import http.cookiejar
import json
import os
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from urllib.parse import urlsplit

import pytest

from .helpers import app_env, free_port, json_lines, run_app, web_process

DUMP = """
import json, config.settings as s
names = ["EMAIL_BACKEND", "EMAIL_HOST", "EMAIL_PORT", "EMAIL_HOST_USER", "EMAIL_HOST_PASSWORD", "EMAIL_USE_TLS",
         "EMAIL_USE_SSL", "EMAIL_TIMEOUT", "USE_SES_V2", "AWS_SES_REGION_NAME", "AWS_SES_REGION_ENDPOINT_URL",
         "AWS_SES_CONFIGURATION_SET", "AWS_SES_AUTO_THROTTLE", "DEFAULT_FROM_EMAIL", "SERVER_EMAIL"]
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
    assert loaded["AWS_SES_AUTO_THROTTLE"] is None  # no GetAccount call (nor IAM action) before each send


@pytest.mark.parametrize(("debug", "backend"), [
    ("true", "django.core.mail.backends.console.EmailBackend"),
    ("false", "config.email.UnconfiguredBackend"),
])
def test_without_email_url_debug_prints_and_production_sends_nothing(debug, backend):
    assert email_settings(DJANGO_DEBUG=debug, EMAIL_URL=None)["EMAIL_BACKEND"] == backend


def test_console_on_request_in_production():
    loaded = email_settings(EMAIL_URL="consolemail://")
    assert loaded["EMAIL_BACKEND"] == "django.core.mail.backends.console.EmailBackend"


# --- A password reset, end to end, through a real web process ----------------------------------
PASSWORD = "correct horse battery"
NEW_PASSWORD = "staple gun orbit 42"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # the test follows each 3xx itself


class Visitor:
    """A person's browser on the web process: cookies kept, forms filled in after GETting them."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), _NoRedirect)

    def open(self, path: str, data: bytes | None = None) -> tuple[int, str, str]:
        """(status, Location, body) of one request, 3xx and 4xx included."""
        try:
            with self.opener.open(self.base + path, data=data, timeout=30) as response:
                return response.status, "", response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.headers.get("Location", ""), error.read().decode()

    def submit(self, path: str, fields: dict[str, str]) -> tuple[int, str, str]:
        status, _, page = self.open(path)
        assert status == 200, f"GET {path}: {status}"
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        return self.open(path, urllib.parse.urlencode({"csrfmiddlewaretoken": token, **fields}).encode())


def _wait_for(read, what: str, timeout: float = 20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = read()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"no {what} within {timeout} s")


def reset_through_the_link(visitor: Visitor, email: str, read_link) -> str:
    """Ask for a reset, open the emailed link, set NEW_PASSWORD; returns the link."""
    status, location, _ = visitor.submit("/accounts/password_reset/", {"email": email})
    assert (status, location) == (302, "/accounts/password_reset/done/")
    assert "Check your email" in visitor.open(location)[2]
    link = read_link()
    status, set_password, _ = visitor.open(urlsplit(link).path)  # Django swaps the token for a session key
    assert status == 302 and set_password.endswith("/set-password/"), (status, set_password)
    status, location, _ = visitor.submit(set_password, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert (status, location) == (302, "/accounts/reset/done/")
    assert "Your password is set" in visitor.open(location)[2]
    return link


def assert_only_the_new_password_signs_in(base: str, username: str) -> None:
    old = Visitor(base).submit("/accounts/login/", {"username": username, "password": PASSWORD})
    assert old[0] == 200 and "did not match" in old[2]
    new = Visitor(base).submit("/accounts/login/", {"username": username, "password": NEW_PASSWORD})
    assert new[:2] == (302, "/")


LINK = re.compile(r"https?://\S+/accounts/reset/[^/\s]+/[^/\s]+/")


@pytest.mark.django_db(transaction=True)  # committed, so the web process sees the user
def test_reset_locally_prints_the_email_and_its_link_sets_a_new_password(django_user_model):
    """bin/dev's case: debug mode, no EMAIL_URL, so the email is printed on the console."""
    django_user_model.objects.create_user("ada", "ada@example.com", PASSWORD)
    with web_process(DJANGO_DEBUG="true", EMAIL_URL=None, LOG_FORMAT="console") as (base, output):
        visitor = Visitor(base)
        link = reset_through_the_link(visitor, "ada@example.com",
                                      lambda: _wait_for(lambda: LINK.search("".join(output)), "reset link").group(0))
        printed = "".join(output)
        assert "Subject: Your new Keel password" in printed and "To: ada@example.com" in printed
        assert link.startswith(base + "/accounts/reset/")
        assert_only_the_new_password_signs_in(base, "ada")
        # The link works once.
        assert "does not work any more" in Visitor(base).open(urlsplit(link).path)[2]


class Inbox:
    """aiosmtpd handler: every message the SMTP server accepts."""

    def __init__(self) -> None:
        self.envelopes: list = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server():
    from aiosmtpd.controller import Controller

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield f"smtp://127.0.0.1:{controller.port}", inbox
    finally:
        controller.stop()


@pytest.mark.django_db(transaction=True)
def test_reset_in_production_goes_through_an_smtp_server(django_user_model, smtp_server):
    url, inbox = smtp_server
    django_user_model.objects.create_user("grace", "grace@example.com", PASSWORD)
    with web_process(EMAIL_URL=url, EMAIL_FROM="Keel <noreply@example.com>", DJANGO_HTTPS="false") as (base, output):
        reset_through_the_link(Visitor(base), "grace@example.com", lambda: _link_of(
            _wait_for(lambda: inbox.envelopes, "email at the SMTP server")[0]))
        assert_only_the_new_password_signs_in(base, "grace")
    (envelope,) = inbox.envelopes
    assert envelope.mail_from == "noreply@example.com" and envelope.rcpt_tos == ["grace@example.com"]
    message = email.message_from_bytes(envelope.content)
    assert message["Subject"] == "Your new Keel password" and message["From"] == "Keel <noreply@example.com>"
    assert not LINK.search("".join(output)), "the reset link reached the logs"


def _link_of(envelope) -> str:
    body = email.message_from_bytes(envelope.content).get_payload(decode=True).decode()
    return LINK.search(body).group(0)


@pytest.mark.django_db(transaction=True)
def test_production_without_email_url_sends_nothing_and_logs_a_warning_without_the_link(django_user_model):
    django_user_model.objects.create_user("alan", "alan@example.com", PASSWORD)
    with web_process(EMAIL_URL=None, DJANGO_HTTPS="false") as (base, output):
        status, location, _ = Visitor(base).submit("/accounts/password_reset/", {"email": "alan@example.com"})
        assert (status, location) == (302, "/accounts/password_reset/done/")  # never says who has an account
        warning = _wait_for(lambda: [line for line in json_lines("".join(output))
                                     if line["message"].startswith("email not sent")], "warning")
    (line,) = warning
    assert line["level"] == "WARNING" and "EMAIL_URL" in line["message"] and line["recipients"] == 1
    assert not LINK.search("".join(output)) and "/accounts/reset/" not in "".join(output)


@pytest.mark.django_db(transaction=True)
def test_reset_in_production_goes_through_ses_with_the_default_credential_chain(django_user_model, s3_server):
    """ses://REGION: django-ses's SESv2 SendEmail against the moto server (the suite's AWS stand-in),
    reached through boto3's standard AWS_ENDPOINT_URL_SESV2; the fake keys stand in for the task role."""
    import boto3
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    region = os.environ["AWS_DEFAULT_REGION"]
    sent = ses_backends[DEFAULT_ACCOUNT_ID][region].sent_messages
    sent.clear()
    # SES sends only from a verified identity (moto models this: MessageRejected otherwise).
    boto3.client("sesv2", endpoint_url=s3_server, region_name=region).create_email_identity(EmailIdentity="example.com")
    django_user_model.objects.create_user("edsger", "edsger@example.com", PASSWORD)
    with web_process(EMAIL_URL=f"ses://{region}", EMAIL_FROM="noreply@example.com", DJANGO_HTTPS="false",
                     AWS_ENDPOINT_URL_SESV2=s3_server) as (base, output):
        reset_through_the_link(Visitor(base), "edsger@example.com", lambda: LINK.search(
            _wait_for(lambda: sent, "message sent through SES")[0].raw_data).group(0))
        assert_only_the_new_password_signs_in(base, "edsger")
    (message,) = sent
    # A set: moto adds the raw message's To header to the request's Destination, listing it twice.
    assert message.source == "noreply@example.com" and set(message.destinations) == {"edsger@example.com"}
    assert not LINK.search("".join(output))
