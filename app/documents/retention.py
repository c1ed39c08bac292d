"""Retention: documents older than DOCUMENT_RETENTION_DAYS go, row and object together; and
objects that never got their row (a process killed between storing an upload and committing
its row) are swept once they are older than any upload can take."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.files.storage import default_storage
from django.utils import timezone

from .media import stored_objects
from .models import Document
from .storing import delete_document

# Far longer than storing an upload and committing its row can take (requests time out in seconds).
ORPHAN_GRACE = timedelta(hours=1)
# Only keys shaped like models.storage_key are ever swept: documents/<owner id>/<32 hex>/<name>.
DOCUMENT_KEY = re.compile(r"documents/\d+/[0-9a-f]{32}/[^/]+")
SWEEP_BATCH = 500

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


def sweep_orphans(now: datetime | None = None) -> int:
    """Delete document objects older than ORPHAN_GRACE that no row points to; how many went."""
    cutoff = (now or timezone.now()) - ORPHAN_GRACE
    candidates = (
        name for name, modified in stored_objects(default_storage, "documents/")
        if modified < cutoff and DOCUMENT_KEY.fullmatch(name)
    )
    swept = 0
    for batch in batches(candidates, SWEEP_BATCH):
        referenced = set(Document.objects.filter(file__in=batch).values_list("file", flat=True))
        for name in batch:
            if name not in referenced:
                default_storage.delete(name)
                swept += 1
    if swept:
        logger.warning("deleted %s orphaned document objects", swept, extra={"orphans": swept})
    return swept


def batches(items, size: int):
    batch: list = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
