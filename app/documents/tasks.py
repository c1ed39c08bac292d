"""Celery tasks of the documents feature. Thin: the work lives in processing and retention.

The tasks bind to ``config.celery``'s app explicitly rather than through ``@shared_task``: web
imports Celery only when it first enqueues (documents.storing imports this module then), so
there is no app made current at start-up for a shared task to find, and whichever process
imports this module first (web, worker, beat, a management command) gets our broker settings.
"""

from __future__ import annotations

import logging

from celery import Task
from config.celery import app

from . import processing, retention

logger = logging.getLogger(__name__)


class ProcessDocumentTask(Task):
    def on_failure(self, exc, task_id, args, kwargs, einfo):
        # Called once the retries are spent: the row says why instead of staying pending forever.
        document_id = args[0] if args else kwargs.get("document_id")
        processing.mark_failed(document_id, f"{type(exc).__name__}: {exc}")


@app.task(
    bind=True,
    base=ProcessDocumentTask,
    name="documents.tasks.process_document",
    ignore_result=True,  # the row is the result; nobody waits on this task
    autoretry_for=(Exception,),
    max_retries=3,
    retry_backoff=5,
    retry_backoff_max=60,
    retry_jitter=True,
)
def process_document(self, document_id: int) -> dict:
    """Measure a stored document and mark it processed (idempotent; a missing one is a no-op)."""
    document = processing.process(document_id)
    if document is None:
        return {"id": document_id, "status": "missing"}
    return {"id": document.pk, "status": document.status, "sha256": document.sha256}


@app.task(name="documents.tasks.purge_expired_documents", ignore_result=True)
def purge_expired_documents() -> dict:
    """Run by beat every DOCUMENT_PURGE_INTERVAL seconds: expired documents, then orphaned objects.
    Whatever fails stays whole and is tried again on the next run."""
    result = retention.purge_expired()
    try:
        orphans = retention.sweep_orphans()
    except Exception:
        logger.exception("orphan sweep failed; it runs again next time")
        orphans = None
    return {"deleted": result.deleted, "failed": result.failed, "orphans": orphans}
