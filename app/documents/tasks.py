"""Celery tasks of the documents feature."""

from celery import shared_task


@shared_task(name="documents.tasks.process_document")
def process_document(document_id: int) -> None:
    """Placeholder until the model lands."""


@shared_task(name="documents.tasks.purge_expired_documents")
def purge_expired_documents() -> int:
    """Placeholder until the model lands."""
    return 0
