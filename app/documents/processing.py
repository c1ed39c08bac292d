"""What the worker learns about a stored document: size, SHA-256 and content type.

Idempotent by construction: the facts are a pure function of the stored bytes, and the row
is only written while it is not yet processed, in one conditional UPDATE, so a task that
runs twice (or twice at once, after a redelivery) leaves the same row and nothing else.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

from django.utils import timezone

from . import sniff
from .media import stored_chunks
from .models import Document

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Facts:
    size: int
    sha256: str
    content_type: str


def measure(document: Document) -> Facts:
    """Read the document's object once and return its facts."""
    digest = hashlib.sha256()
    size = 0
    head = b""
    for chunk in stored_chunks(document.file):
        if len(head) < sniff.SNIFF_BYTES:
            head += chunk[: sniff.SNIFF_BYTES - len(head)]
        digest.update(chunk)
        size += len(chunk)
    return Facts(size=size, sha256=digest.hexdigest(), content_type=sniff.content_type(head, document.original_name))


def process(document_id: int) -> Document | None:
    """Measure and mark the document processed; None if it no longer exists."""
    document = Document.objects.filter(pk=document_id).first()
    if document is None:
        logger.info("document %s is gone; nothing to process", document_id)
        return None
    if document.status == Document.Status.PROCESSED:
        return document
    facts = measure(document)
    Document.objects.filter(pk=document_id).exclude(status=Document.Status.PROCESSED).update(
        size=facts.size,
        sha256=facts.sha256,
        content_type=facts.content_type,
        status=Document.Status.PROCESSED,
        processed_at=timezone.now(),
        error="",
    )
    return Document.objects.filter(pk=document_id).first()


def mark_failed(document_id: int, error: str) -> None:
    """Record why processing gave up, unless another run already succeeded."""
    Document.objects.filter(pk=document_id).exclude(status=Document.Status.PROCESSED).update(
        status=Document.Status.FAILED, error=error[:2000]
    )
