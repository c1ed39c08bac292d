"""Uploaded HTML and SVG must never come back from the bucket as a page the browser renders.

Every case goes through the API into the moto S3 server, then reads what S3 really stores and
what a browser really gets from the presigned URL.
"""

from __future__ import annotations

import os
import urllib.request

import pytest
from django.core.files.base import ContentFile
from documents import processing
from documents.models import Document

pytestmark = pytest.mark.django_db(transaction=True)

HTML = b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>\n"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>\n'
UTF7 = b"+ADw-script+AD4-alert(1)+ADw-/script+AD4-\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64

HOSTILE = [
    ("page.html", "text/html", HTML),
    ("drawing.svg", "image/svg+xml", SVG),
    ("notes.txt", "text/html; charset=utf-7", UTF7),
    ("report.pdf", "text/html", HTML),  # a lying name and type: the bytes are HTML
]


def upload(browser, content: bytes, name: str, declared: str) -> dict:
    file = ContentFile(content, name=name)
    file.content_type = declared  # what a hostile client claims in the multipart part
    response = browser.http.post("/api/documents/", {"file": file}, headers={"X-CSRFToken": browser.csrf_token()})
    assert response.status_code == 201, response.content
    return response.json()


def stored_headers(s3_client, document_id: int) -> dict:
    key = Document.objects.get(pk=document_id).file.name
    return s3_client.head_object(Bucket=os.environ["AWS_STORAGE_BUCKET_NAME"], Key=key)


def fetched(url: str) -> tuple[dict, bytes]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return {name.lower(): value for name, value in response.headers.items()}, response.read()


def processed_detail(browser, document_id: int) -> dict:
    processing.process(document_id)  # what the worker does
    return browser.get(f"/api/documents/{document_id}/").json()


@pytest.mark.parametrize(("name", "declared", "content"), HOSTILE, ids=[case[0] for case in HOSTILE])
def test_hostile_upload_is_stored_and_served_as_a_plain_text_attachment(browser, s3_client, name, declared, content):
    created = upload(browser, content, name, declared)

    head = stored_headers(s3_client, created["id"])
    assert head["ContentType"] == "text/plain; charset=utf-8"
    assert head["ContentDisposition"] == f'attachment; filename="{name}"'

    for url in (created["download_url"], processed_detail(browser, created["id"])["download_url"]):
        headers, body = fetched(url)
        assert body == content
        assert headers["content-disposition"].startswith("attachment;")
        assert headers["content-type"].split(";")[0] in ("text/plain", "application/octet-stream")


def test_a_passive_image_is_served_inline_with_its_sniffed_type(browser, s3_client):
    created = upload(browser, PNG, "photo.png", "text/html")

    assert stored_headers(s3_client, created["id"])["ContentType"] == "image/png"
    headers, _ = fetched(processed_detail(browser, created["id"])["download_url"])
    assert headers["content-type"] == "image/png"
    assert headers["content-disposition"] == 'inline; filename="photo.png"'


def test_an_object_stored_before_the_fix_is_overridden_by_the_presigned_url(browser, s3_client):
    created = upload(browser, HTML, "old.html", "text/html")
    key = Document.objects.get(pk=created["id"]).file.name
    # As the old code stored it: the client's type, no disposition.
    s3_client.put_object(Bucket=os.environ["AWS_STORAGE_BUCKET_NAME"], Key=key, Body=HTML, ContentType="text/html")

    headers, _ = fetched(processed_detail(browser, created["id"])["download_url"])
    assert headers["content-type"] == "text/plain; charset=utf-8"
    assert headers["content-disposition"] == 'attachment; filename="old.html"'


def test_a_sanitised_name_is_what_the_attachment_is_called(browser, s3_client):
    created = upload(browser, HTML, '..\\evil"\r\nname.html', "text/html")

    disposition = stored_headers(s3_client, created["id"])["ContentDisposition"]
    assert "\r" not in disposition and "\n" not in disposition and ".." not in disposition
    assert disposition.startswith("attachment;")


def test_responses_carrying_a_presigned_url_are_never_stored(browser):
    created = browser.upload(b"%PDF-1.7 tiny", name="a.pdf")
    detail = browser.get(f"/api/documents/{created.json()['id']}/")
    download = browser.get(f"/documents/{created.json()['id']}/download/")

    for response in (created, detail, download):
        assert "X-Amz-Signature" in response.get("Location", "") + response.content.decode()
        assert response["Cache-Control"] == "no-store"
