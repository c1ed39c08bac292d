"""The Django admin for documents (users are Django's own admin)."""

from __future__ import annotations

import pytest
from django.test import Client
from documents.models import Document

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_browser(django_user_model, s3_server):
    admin = django_user_model.objects.create_superuser("root", "root@example.com")
    client = Client(headers={"X-Forwarded-Proto": "https"})
    client.force_login(admin)
    return client


def test_admin_lists_documents_and_users(admin_browser, make_document, user):
    make_document(user, b"x", "listed.txt")

    documents = admin_browser.get("/admin/documents/document/")
    users = admin_browser.get("/admin/auth/user/")

    assert documents.status_code == 200
    assert "listed.txt" in documents.content.decode()
    assert users.status_code == 200
    assert "alice" in users.content.decode()


def test_admin_cannot_add_a_document_without_its_object(admin_browser):
    assert admin_browser.get("/admin/documents/document/add/").status_code == 403


def test_admin_change_page_links_the_object(admin_browser, make_document, user):
    document = make_document(user, b"x", "shown.txt")
    page = admin_browser.get(f"/admin/documents/document/{document.pk}/change/").content.decode()
    assert document.file.name in page
    assert "X-Amz-Signature=" in page


def test_admin_delete_removes_row_and_object(admin_browser, make_document, user, stored_keys):
    first = make_document(user, b"1", "one.txt")
    second = make_document(user, b"2", "two.txt")

    response = admin_browser.post("/admin/documents/document/", {
        "action": "delete_selected", "_selected_action": [first.pk, second.pk], "post": "yes",
    })

    assert response.status_code == 302
    assert not Document.objects.exists()
    assert stored_keys(user) == []


def test_admin_process_again_requeues_failed_documents(
    admin_browser, make_document, user, django_capture_on_commit_callbacks
):
    failed = make_document(user, b"1", "failed.txt")
    Document.objects.filter(pk=failed.pk).update(status=Document.Status.FAILED, error="boom")

    with django_capture_on_commit_callbacks() as queued:
        admin_browser.post("/admin/documents/document/", {"action": "process_again", "_selected_action": [failed.pk]})

    failed.refresh_from_db()
    assert (failed.status, failed.error) == (Document.Status.PENDING, "")
    assert len(queued) == 1


def test_staff_with_view_permission_can_follow_the_download_link(admin_browser, make_document, user):
    document = make_document(user, b"x", "theirs.txt")
    response = admin_browser.get(f"/documents/{document.pk}/download/")
    assert response.status_code == 302
    assert document.file.name in response["Location"]


def test_admin_document_page_is_read_only_without_save_buttons(admin_browser, make_document, user):
    document = make_document(user, b"x", "read-only.txt")
    url = f"/admin/documents/document/{document.pk}/change/"
    page = admin_browser.get(url).content.decode()

    assert 'name="_save"' not in page and 'name="_continue"' not in page and 'name="_addanother"' not in page
    assert f"/admin/documents/document/{document.pk}/delete/" in page  # deleting stays possible
    assert admin_browser.post(url, {"original_name": "renamed.txt"}).status_code == 403
    document.refresh_from_db()
    assert document.original_name == "read-only.txt"
