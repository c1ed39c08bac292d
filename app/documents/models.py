"""A document: one uploaded file in media storage and the facts the worker learns about it."""

from __future__ import annotations

import uuid
from pathlib import PurePath

from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation
from django.db import models
from django.utils import timezone
from django.utils.text import get_valid_filename


def storage_key(document: Document, filename: str) -> str:
    """Where the object lives: a fresh random folder per upload, so keys never collide
    and one user's key never reveals or overwrites another's."""
    return f"documents/{document.owner_id}/{uuid.uuid4().hex}/{safe_key_name(filename)}"


def safe_key_name(filename: str) -> str:
    """The last part of the key: the name without folders, odd characters or excess length."""
    try:
        return get_valid_filename(PurePath(filename).name)[-100:]
    except SuspiciousFileOperation:  # nothing usable left, e.g. ".."
        return "file"


class Document(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        PROCESSED = "processed", "Processed"
        FAILED = "failed", "Failed"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="documents")
    file = models.FileField(upload_to=storage_key, max_length=255)
    original_name = models.CharField(max_length=255)
    size = models.BigIntegerField(null=True, blank=True, help_text="Bytes in storage, measured by the worker.")
    sha256 = models.CharField(max_length=64, blank=True, help_text="Hex SHA-256 of the stored bytes.")
    content_type = models.CharField(max_length=100, blank=True, help_text="Sniffed from the content.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    # A default rather than auto_now_add, so imports and tests can set the age that retention uses.
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ("-created_at", "-id")
        indexes = [models.Index(fields=("owner", "-created_at"), name="document_owner_recent")]
        constraints = [
            # A processed document always carries its facts; the database, not only the task, says so.
            models.CheckConstraint(
                condition=~models.Q(status="processed")
                | (models.Q(size__isnull=False) & ~models.Q(sha256="") & models.Q(processed_at__isnull=False)),
                name="document_processed_has_facts",
            ),
        ]

    def __str__(self) -> str:
        return self.original_name
