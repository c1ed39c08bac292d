"""The processing task: facts from the stored bytes, idempotent, safe on missing documents."""

from __future__ import annotations

import hashlib

import pytest
from documents.models import Document
from documents.tasks import process_document

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8


def test_processing_records_size_sha256_and_sniffed_type(user, make_document):
    # Named .pdf but the bytes are a PNG: the content decides.
    document = make_document(user, PNG, "holiday.pdf")

    result = process_document.apply(args=[document.pk]).get()

    document.refresh_from_db()
    assert result == {"id": document.pk, "status": "processed", "sha256": hashlib.sha256(PNG).hexdigest()}
    assert document.status == Document.Status.PROCESSED
    assert document.size == len(PNG)
    assert document.sha256 == hashlib.sha256(PNG).hexdigest()
    assert document.content_type == "image/png"
    assert document.processed_at is not None
    assert document.error == ""


def object_name(document) -> str:
    return document.file.name.rsplit("/", 1)[-1]


def requests_sent_while_processing(document) -> list[tuple[str, str, str | None]]:
    """(method, object name, x-amz-request-payer) of each request processing ``document`` sent to S3."""
    client = document.file.storage.connection.meta.client
    sent = []

    def record(request, **kwargs):
        payer = request.headers.get("x-amz-request-payer")
        sent.append((request.method, request.url.split("?")[0].rsplit("/", 1)[-1],
                     payer.decode() if isinstance(payer, bytes) else payer))

    client.meta.events.register("before-send.s3", record)
    try:
        process_document.apply(args=[document.pk])
    finally:
        client.meta.events.unregister("before-send.s3", record)
    return sent


def test_processing_reads_the_object_with_one_get_and_nothing_else(user, make_document):
    document = make_document(user, PNG, "one-request.png")

    # S3 bills every request, and a HEAD before the GET ran botocore's request path twice per task.
    assert requests_sent_while_processing(document) == [("GET", object_name(document), None)]


def test_the_storages_download_parameters_travel_with_the_get(user, make_document, storage_settings):
    storage_settings(object_parameters={"RequestPayer": "requester"})  # as S3File would send them
    document = make_document(user, PNG, "payer.png")

    assert requests_sent_while_processing(document) == [("GET", object_name(document), "requester")]


def test_processing_streams_objects_larger_than_one_chunk(user, make_document):
    content = (b"0123456789abcdef" * 65536) * 3 + b"tail"  # 3 MiB and a bit: several chunks
    document = make_document(user, content, "big.log")

    process_document.apply(args=[document.pk])

    document.refresh_from_db()
    assert document.size == len(content)
    assert document.sha256 == hashlib.sha256(content).hexdigest()
    assert document.content_type == "text/plain"


def test_running_twice_leaves_the_same_result(user, make_document):
    document = make_document(user, b"same every time")
    process_document.apply(args=[document.pk])
    first = Document.objects.values().get(pk=document.pk)

    second_result = process_document.apply(args=[document.pk]).get()

    assert Document.objects.values().get(pk=document.pk) == first
    assert second_result["status"] == "processed"
    assert Document.objects.count() == 1


def test_a_missing_document_is_a_no_op(user, make_document):
    document = make_document(user)
    result = process_document.apply(args=[document.pk + 1000]).get()
    assert result == {"id": document.pk + 1000, "status": "missing"}
    document.refresh_from_db()
    assert document.status == Document.Status.PENDING


def test_a_document_deleted_before_its_task_runs_is_a_no_op(user, make_document):
    from documents.storing import delete_document

    document = make_document(user)
    delete_document(document.pk)

    assert process_document.apply(args=[document.pk]).get()["status"] == "missing"


def test_unreadable_object_marks_the_document_failed_after_the_retries(user, make_document, s3_client):
    document = make_document(user, b"soon gone")
    # Break the pair for real: the object disappears behind the app's back.
    s3_client.delete_object(Bucket=document.file.storage.bucket_name, Key=document.file.name)

    outcome = process_document.apply(args=[document.pk])

    assert outcome.failed()
    document.refresh_from_db()
    assert document.status == Document.Status.FAILED
    assert document.error.startswith("FileNotFoundError")
    assert document.sha256 == ""


def test_failed_document_is_processed_when_the_object_is_back(user, make_document, s3_client):
    document = make_document(user, b"flaky")
    bucket, key = document.file.storage.bucket_name, document.file.name
    s3_client.delete_object(Bucket=bucket, Key=key)
    process_document.apply(args=[document.pk])
    s3_client.put_object(Bucket=bucket, Key=key, Body=b"flaky")

    process_document.apply(args=[document.pk])

    document.refresh_from_db()
    assert document.status == Document.Status.PROCESSED
    assert document.error == ""
    assert document.sha256 == hashlib.sha256(b"flaky").hexdigest()


def test_the_database_refuses_a_processed_row_without_its_facts(user, make_document):
    from django.db import IntegrityError, transaction

    document = make_document(user)
    with pytest.raises(IntegrityError), transaction.atomic():
        Document.objects.filter(pk=document.pk).update(status=Document.Status.PROCESSED)
