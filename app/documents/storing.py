"""Writing and deleting documents so that a row and its object always exist together.

Storage and the database cannot share a transaction, so the order carries the guarantee:

* store: object first, then the row in a durable transaction (the real commit, never a
  savepoint of a request-wide transaction); if the row does not commit, the object is deleted.
  A storage failure leaves no row because no row was started.
* delete: the row is deleted inside a transaction, the object is deleted before that
  transaction commits; if the object cannot be deleted, the row stays (and deletion can be
  retried). Deleting an object that is already gone succeeds, so a retry after a failed
  commit finishes the job.
"""

from __future__ import annotations

import logging
from functools import partial
from pathlib import PurePath

from django.conf import settings
from django.core.files import File
from django.db import DatabaseError, transaction

from . import sniff
from .media import object_headers
from .models import Document

logger = logging.getLogger(__name__)


class UploadRejected(ValueError):
    """The upload breaks a limit; ``status`` is the HTTP status that says which."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class DocumentNotStored(RuntimeError):
    """A backing service failed; nothing was left behind. ``service`` names which one."""

    def __init__(self, service: str) -> None:
        super().__init__(f"{service} is unavailable; the document was not stored, try again")
        self.service = service


def max_bytes() -> int:
    return settings.DOCUMENT_MAX_BYTES


def check_size(size: int) -> None:
    """Raise UploadRejected unless ``size`` is within the upload limits."""
    if size <= 0:
        raise UploadRejected(400, "field 'file' is empty: upload a file with at least one byte")
    if size > max_bytes():
        raise UploadRejected(
            413, f"field 'file' is {size} bytes, over the {max_bytes()}-byte limit (DOCUMENT_MAX_BYTES)"
        )


def display_name(name: str) -> str:
    """The name shown to the user: the file's own name, without any client-sent folders."""
    printable = "".join(char for char in name if char.isprintable())  # Postgres refuses NUL
    name = PurePath(printable.replace("\\", "/")).name[:255]
    return name if name not in ("", ".", "..") else "file"


def enqueue_processing(document_id: int) -> None:
    # The one place web sends a task. Imported here, on the first enqueue, not at start-up: the
    # tasks module loads config.celery (Celery, kombu, redis), which a process that only serves
    # pages and probes never needs.
    from .tasks import process_document

    process_document.delay(document_id)


def sniffed_type(content: File, name: str) -> str:
    content.seek(0)
    head = content.read(sniff.SNIFF_BYTES)
    content.seek(0)
    return sniff.content_type(head, name)


def store_document(owner, content: File, name: str, sha256: str = "") -> Document:
    """Store ``content`` as a new pending document of ``owner`` and queue its processing.
    ``sha256``, when the caller has it already (an import), is recorded at once so a rerun can
    recognise the file before the worker has measured it.

    Raises UploadRejected for a bad size and DocumentNotStored when storage or the database
    fails; in both cases neither an object nor a row remains.
    """
    check_size(content.size)
    document = Document(owner=owner, original_name=display_name(name), sha256=sha256)
    # The object is stored with the type its bytes show and, unless passive, as an attachment:
    # never with the type the client declared (documents.s3 writes these).
    content.object_parameters = object_headers(sniffed_type(content, name), document.original_name)
    try:
        document.file.save(document.original_name, content, save=False)
    except Exception as exc:
        logger.exception("document upload failed in storage", extra={"owner_id": owner.pk})
        raise DocumentNotStored("storage") from exc
    try:
        save_row(document)
    except DatabaseError as exc:
        logger.exception("document row failed; deleting its object", extra={"key": document.file.name})
        discard_object(document)
        raise DocumentNotStored("database") from exc
    except BaseException:
        discard_object(document)
        raise
    return document


def save_row(document: Document) -> None:
    # durable: this must be the commit that makes the row real, or a later rollback of an
    # enclosing transaction would leave the object without its row.
    with transaction.atomic(durable=True):
        document.save()
        # robust: a broker outage must not turn a committed upload into an error.
        transaction.on_commit(partial(enqueue_processing, document.pk), robust=True)


def discard_object(document: Document) -> None:
    try:
        document.file.storage.delete(document.file.name)
    except Exception:
        logger.exception("orphaned object: delete it by hand", extra={"key": document.file.name})


def delete_document(document_id: int) -> bool:
    """Delete a document's row and object together; False if it was already gone."""
    with transaction.atomic():
        document = Document.objects.select_for_update().filter(pk=document_id).first()
        if document is None:
            return False
        document.delete()
        # Last, so any failure rolls the row back and the pair survives intact.
        document.file.storage.delete(document.file.name)
    return True
