"""Retention: documents older than DOCUMENT_RETENTION_DAYS go, row and object together."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from .models import Document
from .storing import delete_document

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PurgeResult:
    deleted: int
    failed: int


def retention_cutoff(now: datetime | None = None) -> datetime:
    """Documents created before this moment are expired."""
    return (now or timezone.now()) - timedelta(days=settings.DOCUMENT_RETENTION_DAYS)


def purge_expired(now: datetime | None = None) -> PurgeResult:
    """Delete every expired document; one that fails stays whole and is retried next run."""
    expired = list(
        Document.objects.filter(created_at__lt=retention_cutoff(now)).order_by("pk").values_list("pk", flat=True)
    )
    deleted = failed = 0
    for document_id in expired:
        try:
            deleted += delete_document(document_id)
        except Exception:
            failed += 1
            logger.exception("could not purge document %s; it stays for the next run", document_id)
    logger.info("purged %s expired documents (%s failed)", deleted, failed, extra={"deleted": deleted, "failed": failed})
    return PurgeResult(deleted=deleted, failed=failed)
