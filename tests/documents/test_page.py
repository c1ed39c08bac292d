"""The page at / as a browser sees it."""

from __future__ import annotations

import pytest
from django.test import Client
from documents.models import Document

pytestmark = pytest.mark.django_db


def page_token(browser) -> str:
    browser.get("/")
    return browser.cookies["csrftoken"].value


def test_anonymous_visitors_are_sent_to_sign_in(s3_server):
    response = Client(headers={"X-Forwarded-Proto": "https"}).get("/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/"


def test_page_lists_only_my_documents_with_an_upload_form(browser, make_document, other_user):
    make_document(browser.user, b"a", "mine.txt")
    make_document(other_user, b"b", "theirs.txt")

    response = browser.get("/")

    assert response.status_code == 200
    html = response.content.decode()
    assert 'enctype="multipart/form-data"' in html
    assert 'name="file"' in html
    assert "mine.txt" in html
    assert "theirs.txt" not in html
    # Pending documents refresh the page until the worker is done.
    assert 'http-equiv="refresh"' in html


def test_upload_from_the_page_stores_and_redirects_with_a_message(browser, stored_keys):
    token = page_token(browser)
    from django.core.files.base import ContentFile

    response = browser.post("/", {"file": ContentFile(b"page upload", name="from-page.txt"),
                                  "csrfmiddlewaretoken": token}, follow=True)

    assert response.redirect_chain == [("/", 302)]
    assert "Uploaded from-page.txt; it is being processed." in response.content.decode()
    document = Document.objects.get()
    assert document.owner == browser.user
    assert stored_keys(browser.user) == [document.file.name]


def test_page_upload_without_csrf_token_is_refused(browser, stored_keys):
    from django.core.files.base import ContentFile

    response = browser.post("/", {"file": ContentFile(b"x", name="x.txt")})
    assert response.status_code == 403
    assert not Document.objects.exists()
    assert stored_keys(browser.user) == []


def test_page_upload_limits_show_the_reason_with_the_status(browser, settings):
    settings.DOCUMENT_MAX_BYTES = 10
    token = page_token(browser)
    from django.core.files.base import ContentFile

    too_big = browser.post("/", {"file": ContentFile(b"x" * 11, name="big.bin"), "csrfmiddlewaretoken": token})
    empty = browser.post("/", {"file": ContentFile(b"", name="empty.txt"), "csrfmiddlewaretoken": token})

    assert too_big.status_code == 413
    assert "over the 10-byte limit (DOCUMENT_MAX_BYTES)" in too_big.content.decode()
    assert empty.status_code == 400
    assert "field &#x27;file&#x27; is empty" in empty.content.decode()
    assert not Document.objects.exists()


def test_download_redirects_to_a_fresh_presigned_url(browser, make_document, other_user):
    mine = make_document(browser.user, b"a", "mine.txt")
    theirs = make_document(other_user, b"b", "theirs.txt")

    response = browser.get(f"/documents/{mine.pk}/download/")

    assert response.status_code == 302
    assert mine.file.name in response["Location"]
    assert "X-Amz-Signature=" in response["Location"]
    assert browser.get(f"/documents/{theirs.pk}/download/").status_code == 404


def test_delete_button_removes_row_and_object_and_only_mine(browser, make_document, other_user, stored_keys):
    mine = make_document(browser.user, b"a", "mine.txt")
    theirs = make_document(other_user, b"b", "theirs.txt")
    token = page_token(browser)

    assert browser.post(f"/documents/{theirs.pk}/delete/", {"csrfmiddlewaretoken": token}).status_code == 404
    response = browser.post(f"/documents/{mine.pk}/delete/", {"csrfmiddlewaretoken": token}, follow=True)

    assert "Deleted mine.txt." in response.content.decode()
    assert list(Document.objects.all()) == [theirs]
    assert stored_keys(browser.user) == []
    assert len(stored_keys(other_user)) == 1


def test_page_stops_refreshing_for_a_document_stuck_in_pending(browser, make_document):
    from datetime import timedelta

    from django.utils import timezone

    stuck = make_document(browser.user, b"a", "stuck.txt")
    Document.objects.filter(pk=stuck.pk).update(created_at=timezone.now() - timedelta(hours=1))

    assert 'http-equiv="refresh"' not in browser.get("/").content.decode()
