"""Nothing half-written: every failure is real (a bucket that does not exist, an unreachable
endpoint, a Postgres trigger that refuses the row, a constraint that fails at COMMIT)."""

from __future__ import annotations

import pytest
from django.db import connection
from documents.models import Document

REFUSE_FUNCTION = """
CREATE OR REPLACE FUNCTION keel_test_refuse_document() RETURNS trigger AS $$
BEGIN RAISE EXCEPTION 'documents are refused by the test'; END $$ LANGUAGE plpgsql
"""


@pytest.fixture
def refuse_rows_on_insert():
    """The database refuses every new document row (a real error from Postgres)."""
    with connection.cursor() as cursor:
        cursor.execute(REFUSE_FUNCTION)
        cursor.execute("CREATE TRIGGER keel_test_refuse BEFORE INSERT ON documents_document "
                       "FOR EACH ROW EXECUTE FUNCTION keel_test_refuse_document()")
    # Rolled back with the test's transaction.


@pytest.fixture
def refuse_rows_at_commit():
    """The row inserts fine, but COMMIT fails: a deferred constraint trigger raises then."""
    with connection.cursor() as cursor:
        cursor.execute(REFUSE_FUNCTION)
        cursor.execute("CREATE CONSTRAINT TRIGGER keel_test_refuse_at_commit AFTER INSERT ON documents_document "
                       "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION keel_test_refuse_document()")
    try:
        yield
    finally:
        # A transactional test really commits DDL: undo it for the tests that follow.
        with connection.cursor() as cursor:
            cursor.execute("DROP TRIGGER IF EXISTS keel_test_refuse_at_commit ON documents_document")
            cursor.execute("DROP FUNCTION IF EXISTS keel_test_refuse_document()")


@pytest.mark.django_db
def test_storage_failure_leaves_no_row_and_answers_503(browser, missing_bucket):
    response = browser.upload(b"important")

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.json()["error"] == "storage is unavailable; the document was not stored, try again"
    assert not Document.objects.exists()


@pytest.mark.django_db
def test_storage_failure_on_the_page_says_so_and_keeps_no_row(browser, storage_outage):
    storage_outage()
    response = browser.upload(b"important", path="/")

    assert response.status_code == 503
    assert b"Storage is unavailable; the document was not stored, try again." in response.content
    assert not Document.objects.exists()


@pytest.mark.django_db
def test_database_failure_deletes_the_stored_object(browser, stored_keys, refuse_rows_on_insert):
    response = browser.upload(b"important")

    assert response.status_code == 503
    assert response.json()["error"].startswith("database is unavailable")
    assert stored_keys(browser.user) == []


@pytest.mark.django_db(transaction=True)
def test_commit_failure_deletes_the_stored_object(browser, stored_keys, refuse_rows_at_commit):
    # The upload's row must be committed by the upload itself (not by a request-wide
    # transaction that ends after the view): otherwise this object would be orphaned.
    response = browser.upload(b"important")

    assert response.status_code == 503
    assert not Document.objects.exists()
    assert stored_keys(browser.user) == []


@pytest.mark.django_db
def test_delete_that_cannot_reach_storage_keeps_row_and_object(browser, stored_keys, storage_outage):
    document = browser.upload(b"keep me").json()
    [key] = stored_keys(browser.user)
    storage_outage()

    response = browser.delete(f"/api/documents/{document['id']}/", headers={"X-CSRFToken": browser.csrf_token()})

    assert response.status_code == 503
    assert Document.objects.filter(pk=document["id"]).exists()
    assert stored_keys(browser.user) == [key]
