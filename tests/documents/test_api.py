"""The JSON API as a client sees it: session auth, CSRF, limits, ownership, JSON errors."""

from __future__ import annotations

import hashlib
import urllib.request
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from documents.models import Document

pytestmark = pytest.mark.django_db


def test_upload_stores_the_bytes_and_answers_201_with_a_pending_document(browser, stored_keys, stored_bytes):
    response = browser.upload(b"quarterly numbers\n", name="report.txt")

    assert response.status_code == 201
    body = response.json()
    assert body["name"] == "report.txt"
    assert body["status"] == "pending"
    assert response["Location"] == f"/api/documents/{body['id']}/"
    [key] = stored_keys(browser.user)
    assert key.endswith("/report.txt")
    assert stored_bytes(key) == b"quarterly numbers\n"
    assert Document.objects.get(pk=body["id"]).file.name == key


def test_upload_queues_processing_once_the_row_is_committed(browser, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        response = browser.upload(b"data")
    assert response.status_code == 201
    assert len(callbacks) == 1


def test_download_url_is_presigned_and_serves_the_private_object(browser):
    document = browser.upload(b"%PDF-1.7 tiny", name="a.pdf").json()

    query = parse_qs(urlsplit(document["download_url"]).query)
    assert {"X-Amz-Signature", "X-Amz-Expires", "X-Amz-Credential"} <= set(query)
    with urllib.request.urlopen(document["download_url"], timeout=5) as fetched:
        assert fetched.read() == b"%PDF-1.7 tiny"


def test_listed_download_url_is_our_view_which_redirects_to_a_fresh_presigned_url(browser):
    uploaded = browser.upload(b"listed bytes", name="listed.txt").json()

    [listed] = browser.get("/api/documents/").json()["results"]
    assert listed["download_url"].endswith(f"://testserver:80/documents/{uploaded['id']}/download/")
    assert {key: value for key, value in listed.items() if key != "download_url"} == \
        {key: value for key, value in uploaded.items() if key != "download_url"}  # otherwise as the detail
    redirect = browser.get(listed["download_url"])
    assert redirect.status_code == 302
    assert "X-Amz-Signature" in parse_qs(urlsplit(redirect["Location"]).query)
    with urllib.request.urlopen(redirect["Location"], timeout=5) as fetched:
        assert fetched.read() == b"listed bytes"


@pytest.fixture
def redis_traffic(monkeypatch):
    """Round trips to Redis (each command or pipeline sent) and redis.Redis clients built, counted
    in this process while the test runs."""
    import redis
    from redis.connection import AbstractConnection

    counts = {"round_trips": 0, "clients_built": 0}
    send, build = AbstractConnection.send_packed_command, redis.Redis.__init__

    def counted_send(self, *args, **kwargs):
        counts["round_trips"] += 1
        return send(self, *args, **kwargs)

    def counted_build(self, *args, **kwargs):
        counts["clients_built"] += 1
        return build(self, *args, **kwargs)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", counted_send)
    monkeypatch.setattr(redis.Redis, "__init__", counted_build)
    return counts


def test_a_page_that_is_not_full_costs_two_queries_and_one_redis_round_trip(
        browser, make_document, django_assert_num_queries, redis_traffic):
    make_document(browser.user)
    browser.get("/api/documents/")  # the session is now cached and the csrftoken cookie set, as later on
    for n in range(4):
        make_document(browser.user, b"more", f"{n}.txt")
    redis_traffic.update(round_trips=0, clients_built=0)
    with django_assert_num_queries(2):  # the signed-in user and the page's rows: no COUNT, none per row
        response = browser.get("/api/documents/")
    assert response.json()["count"] == 5 and len(response.json()["results"]) == 5
    assert redis_traffic == {"round_trips": 1, "clients_built": 0}  # the session, on the client built before
    assert "csrftoken" not in response.cookies  # the caller has it: not re-masked and re-sent


def test_a_full_page_counts_the_rest_with_one_more_query(browser, django_assert_num_queries):
    from documents.api import PAGE_SIZE

    Document.objects.bulk_create(
        Document(owner=browser.user, original_name=f"{n}.txt", file=f"documents/{n}.txt") for n in range(PAGE_SIZE + 3))
    browser.get("/api/documents/")
    with django_assert_num_queries(3):  # the signed-in user, the page's rows and the COUNT
        first = browser.get("/api/documents/").json()
    assert (first["count"], len(first["results"]), first["previous"]) == (PAGE_SIZE + 3, PAGE_SIZE, None)
    assert first["next"].endswith("/api/documents/?page=2")
    with django_assert_num_queries(2):  # the last page is not full: its rows give the count
        last = browser.get("/api/documents/?page=2").json()
    assert (last["count"], len(last["results"]), last["next"]) == (PAGE_SIZE + 3, 3, None)
    assert last["previous"].endswith("/api/documents/?page=1")
    assert {d["id"] for d in first["results"]}.isdisjoint(d["id"] for d in last["results"])
    missing = browser.get("/api/documents/?page=3")
    assert missing.status_code == 404 and missing.json()["error"] == "no page '3': pages run from 1 to 2"


def test_a_client_without_the_csrftoken_cookie_gets_one(browser):
    response = browser.get("/api/documents/")
    assert response.cookies["csrftoken"].value


def test_list_and_detail_show_only_the_callers_documents(browser, make_document, other_user):
    mine = browser.upload(b"mine").json()
    theirs = make_document(other_user, b"theirs")

    listing = browser.get("/api/documents/").json()
    assert [item["id"] for item in listing["results"]] == [mine["id"]]
    assert listing["count"] == 1
    assert browser.get(f"/api/documents/{mine['id']}/").json()["sha256"] is None
    other = browser.get(f"/api/documents/{theirs.pk}/")
    assert other.status_code == 404
    assert other.json()["error"] == f"no document {theirs.pk} among yours"
    assert browser.delete(f"/api/documents/{theirs.pk}/", headers={"X-CSRFToken": browser.csrf_token()}).status_code == 404
    assert Document.objects.filter(pk=theirs.pk).exists()


def test_list_is_paginated_newest_first(browser, make_document, settings, monkeypatch):
    monkeypatch.setattr("documents.api.PAGE_SIZE", 2)
    ids = [make_document(browser.user, b"x", f"{n}.txt").pk for n in range(3)]

    first = browser.get("/api/documents/").json()
    assert [item["id"] for item in first["results"]] == ids[:0:-1]
    assert first["next"].endswith("/api/documents/?page=2")
    second = browser.get(first["next"]).json()
    assert [item["id"] for item in second["results"]] == [ids[0]]
    assert second["next"] is None
    assert browser.get("/api/documents/?page=9").status_code == 404


@pytest.mark.parametrize(("method", "path"), [("get", "/api/documents/"), ("post", "/api/documents/"),
                                              ("get", "/api/documents/1/")])
def test_anonymous_callers_get_a_json_401(method, path, s3_server):
    response = getattr(Client(headers={"X-Forwarded-Proto": "https"}), method)(path)
    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    assert "sign in at /accounts/login/" in response.json()["error"]


def test_post_without_csrf_token_is_refused_and_stores_nothing(browser, stored_keys):
    from django.core.files.base import ContentFile

    response = browser.post("/api/documents/", {"file": ContentFile(b"sneaky", name="x.txt")})

    assert response.status_code == 403
    assert "CSRF" in response.json()["error"]
    assert not Document.objects.exists()
    assert stored_keys(browser.user) == []


def test_post_with_a_wrong_csrf_token_is_refused(browser):
    from django.core.files.base import ContentFile

    response = browser.post("/api/documents/", {"file": ContentFile(b"x", name="x.txt")},
                            headers={"X-CSRFToken": "x" * 32})
    assert response.status_code == 403
    assert not Document.objects.exists()


def test_cross_origin_post_is_refused_even_with_the_token(browser):
    from django.core.files.base import ContentFile

    response = browser.post("/api/documents/", {"file": ContentFile(b"x", name="x.txt")},
                            headers={"X-CSRFToken": browser.csrf_token(), "Origin": "https://evil.example"})
    assert response.status_code == 403
    assert "evil.example" in response.json()["error"]


def test_empty_file_is_a_400_naming_the_field(browser, stored_keys):
    response = browser.upload(b"")
    assert response.status_code == 400
    assert response.json()["error"].startswith("field 'file' is empty")
    assert stored_keys(browser.user) == []


def test_missing_file_field_is_a_400(browser):
    response = browser.post("/api/documents/", {"other": "x"}, headers={"X-CSRFToken": browser.csrf_token()})
    assert response.status_code == 400
    assert "field 'file' is required" in response.json()["error"]


def test_two_files_in_one_request_are_a_400(browser):
    from django.core.files.base import ContentFile

    files = [ContentFile(b"a", name="a.txt"), ContentFile(b"b", name="b.txt")]
    response = browser.post("/api/documents/", {"file": files}, headers={"X-CSRFToken": browser.csrf_token()})
    assert response.status_code == 400
    assert not Document.objects.exists()


def test_a_file_at_the_limit_is_accepted_and_one_byte_more_is_413(browser, settings, stored_keys):
    settings.DOCUMENT_MAX_BYTES = 1000

    assert browser.upload(b"a" * 1000).status_code == 201
    over = browser.upload(b"a" * 1001)
    assert over.status_code == 413
    assert "over the 1000-byte limit (DOCUMENT_MAX_BYTES)" in over.json()["error"]
    assert Document.objects.count() == 1
    assert len(stored_keys(browser.user)) == 1


def test_a_body_declared_too_large_is_refused_before_it_is_read(browser, settings):
    settings.DOCUMENT_MAX_BYTES = 1000
    response = browser.upload(b"small", CONTENT_LENGTH=str(10_000_000))
    assert response.status_code == 413
    assert not Document.objects.exists()


@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("put", "/api/documents/", "GET, POST"),
    ("patch", "/api/documents/", "GET, POST"),
    ("post", "/api/documents/1/", "GET, DELETE"),
])
def test_wrong_method_is_a_json_405_with_allow(browser, method, path, allowed):
    response = getattr(browser, method)(path)
    assert response.status_code == 405
    assert response["Allow"] == allowed
    assert response.json()["status"] == 405


def test_delete_removes_row_and_object(browser, stored_keys):
    document = browser.upload(b"bye").json()

    response = browser.delete(f"/api/documents/{document['id']}/", headers={"X-CSRFToken": browser.csrf_token()})

    assert response.status_code == 204
    assert not Document.objects.exists()
    assert stored_keys(browser.user) == []


def test_delete_without_csrf_token_is_refused(browser, stored_keys):
    document = browser.upload(b"keep").json()
    assert browser.delete(f"/api/documents/{document['id']}/").status_code == 403
    assert Document.objects.filter(pk=document["id"]).exists()
    assert len(stored_keys(browser.user)) == 1


def test_processed_document_json_carries_its_facts(browser):
    from documents.tasks import process_document

    document = browser.upload(b"{\"a\": 1}\n", name="data.json").json()
    process_document.apply(args=[document["id"]])

    shown = browser.get(f"/api/documents/{document['id']}/").json()
    assert shown["status"] == "processed"
    assert shown["size"] == 9
    assert shown["sha256"] == hashlib.sha256(b"{\"a\": 1}\n").hexdigest()
    assert shown["content_type"] == "application/json"
    assert shown["processed_at"] is not None


@pytest.mark.parametrize(("sent", "shown", "key_end"), [
    ("../../etc/evil.txt", "evil.txt", "/evil.txt"),
    ("C:\\Users\\me\\doc.txt", "doc.txt", "/doc.txt"),
    ("my report (1).pdf", "my report (1).pdf", "/my_report_1.pdf"),
    ("ünïcødé файл.txt", "ünïcødé файл.txt", "/ünïcødé_файл.txt"),
    ("nul\x00byte.txt", "nulbyte.txt", "/nulbyte.txt"),
])
def test_client_file_names_never_escape_the_documents_folder(browser, stored_keys, sent, shown, key_end):
    response = browser.upload(b"x", name=sent)

    assert response.status_code == 201
    assert response.json()["name"] == shown
    [key] = stored_keys(browser.user)
    assert key.startswith(f"documents/{browser.user.pk}/") and key.endswith(key_end)
    assert key.count("/") == 3
