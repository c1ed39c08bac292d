"""Debug mode keeps media on the local filesystem: the same features work there."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.utils import timezone
from documents.models import Document
from documents.tasks import process_document

pytestmark = pytest.mark.django_db


@pytest.fixture
def local_media(settings, tmp_path):
    settings.STORAGES = {**settings.STORAGES, "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path)}}}
    return tmp_path


def test_upload_process_and_download_from_local_files(browser, local_media):
    content = b"local bytes\n" * 1000
    created = browser.upload(content, name="local.txt").json()
    document = Document.objects.get(pk=created["id"])
    assert (local_media / document.file.name).read_bytes() == content

    process_document.apply(args=[document.pk])
    document.refresh_from_db()
    assert document.sha256 == hashlib.sha256(content).hexdigest()

    assert created["download_url"].endswith(f"://testserver:80/documents/{document.pk}/download/")
    download = browser.get(created["download_url"])
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == content
    assert download["Content-Disposition"] == 'attachment; filename="local.txt"'


def test_local_orphans_are_swept_and_documents_kept(user, make_document, local_media):
    from documents.retention import sweep_orphans

    kept = make_document(user, b"kept")
    orphan = local_media / "documents" / str(user.pk) / ("0" * 32) / "orphan.txt"
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"left behind")

    assert sweep_orphans(now=timezone.now() + timedelta(hours=2)) == 1
    assert not orphan.exists()
    assert (local_media / kept.file.name).exists()
