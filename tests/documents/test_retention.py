"""Retention: old documents go, row and object together; a failure keeps both for the next run."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from documents.models import Document
from documents.tasks import purge_expired_documents

pytestmark = pytest.mark.django_db


def purge() -> tuple[int, int]:
    """Run the beat task as the worker would; (documents deleted, documents that failed)."""
    result = purge_expired_documents.apply().get()
    return result["deleted"], result["failed"]


def aged(document: Document, days: float) -> Document:
    Document.objects.filter(pk=document.pk).update(created_at=timezone.now() - timedelta(days=days))
    return document


def test_purge_deletes_expired_rows_and_objects_and_keeps_recent_ones(user, make_document, stored_keys, settings):
    settings.DOCUMENT_RETENTION_DAYS = 30
    old = aged(make_document(user, b"old", "old.txt"), 31)
    older = aged(make_document(user, b"older", "older.txt"), 400)
    recent = aged(make_document(user, b"recent", "recent.txt"), 29)

    assert purge() == (2, 0)
    assert list(Document.objects.all()) == [recent]
    assert stored_keys(user) == [recent.file.name]
    assert old.file.name not in stored_keys(user) and older.file.name not in stored_keys(user)


def test_purge_follows_the_configured_retention(user, make_document, settings):
    document = aged(make_document(user), 3)
    settings.DOCUMENT_RETENTION_DAYS = 5
    assert purge() == (0, 0)
    settings.DOCUMENT_RETENTION_DAYS = 2
    assert purge() == (1, 0)
    assert not Document.objects.filter(pk=document.pk).exists()


def test_purge_with_storage_down_keeps_row_and_object_then_finishes_later(
    user, make_document, stored_keys, storage_outage, settings
):
    settings.DOCUMENT_RETENTION_DAYS = 1
    document = aged(make_document(user, b"sensitive"), 2)
    working_storage = settings.STORAGES
    storage_outage()

    assert purge() == (0, 1)
    assert Document.objects.filter(pk=document.pk).exists()
    assert stored_keys(user) == [document.file.name]

    settings.STORAGES = working_storage
    assert purge() == (1, 0)
    assert not Document.objects.exists()
    assert stored_keys(user) == []


def test_purge_of_a_row_whose_object_is_already_gone_still_deletes_the_row(user, make_document, s3_client):
    # A commit that failed after the object was deleted leaves such a row; the next run ends it.
    document = aged(make_document(user), 400)
    s3_client.delete_object(Bucket=document.file.storage.bucket_name, Key=document.file.name)

    assert purge() == (1, 0)
    assert not Document.objects.exists()


def test_beat_schedules_the_purge_task_by_name():
    from config.celery import app

    scheduled = {entry["task"] for entry in app.conf.beat_schedule.values()}
    assert purge_expired_documents.name in scheduled
    assert purge_expired_documents.name in app.tasks


def put_orphan(s3_client, owner, name: str = "orphan.txt") -> str:
    """An object with no row, as a process killed between storing and committing leaves it."""
    import os
    import uuid

    key = f"documents/{owner.pk}/{uuid.uuid4().hex}/{name}"
    s3_client.put_object(Bucket=os.environ["AWS_STORAGE_BUCKET_NAME"], Key=key, Body=b"left behind")
    return key


def test_sweep_deletes_old_objects_without_a_row_and_keeps_the_rest(user, make_document, s3_client, stored_keys):
    from documents.retention import sweep_orphans

    kept = make_document(user, b"has a row")
    orphan = put_orphan(s3_client, user)
    import os

    stranger = f"documents/{user.pk}/not-ours.txt"  # not shaped like our keys: never touched
    s3_client.put_object(Bucket=os.environ["AWS_STORAGE_BUCKET_NAME"], Key=stranger, Body=b"x")

    swept = sweep_orphans(now=timezone.now() + timedelta(hours=2))

    assert swept >= 1
    keys = stored_keys(user)
    assert orphan not in keys
    assert kept.file.name in keys and stranger in keys


def test_sweep_spares_fresh_objects_whose_upload_may_still_be_committing(user, s3_client, stored_keys):
    from documents.retention import sweep_orphans

    orphan = put_orphan(s3_client, user)
    sweep_orphans()
    assert orphan in stored_keys(user)


def test_purge_task_also_sweeps_orphans(user, s3_client, stored_keys, monkeypatch):
    from documents import retention

    orphan = put_orphan(s3_client, user)
    monkeypatch.setattr(retention, "ORPHAN_GRACE", timedelta(0))  # moto cannot backdate an object

    result = purge_expired_documents.apply().get()

    assert result["orphans"] >= 1
    assert orphan not in stored_keys(user)
