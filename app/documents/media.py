"""The two media storages the app runs on, where they differ: S3 (production, private bucket)
and the local filesystem (debug only). Reading, listing and linking go through here."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import partial

from django.core.files.storage import FileSystemStorage, Storage
from django.db.models.fields.files import FieldFile

CHUNK_BYTES = 1024 * 1024


def is_s3(storage: Storage) -> bool:
    # Imported here, not at the top: storages.backends.s3 loads boto3 (about a second of CPU), which
    # the web process must not pay at start (admin autodiscovery imports this module) nor for a view
    # that never touches media. A production storage object has imported it already anyway.
    from storages.backends.s3 import S3Storage

    return isinstance(storage, S3Storage)


def stored_chunks(field_file: FieldFile) -> Iterator[bytes]:
    """The stored bytes in chunks, never the whole object in memory."""
    storage = field_file.storage
    if is_s3(storage):
        # S3File would download the whole object into memory first; stream its body instead.
        body = storage.open(field_file.name, "rb").obj.get()["Body"]
        try:
            yield from body.iter_chunks(CHUNK_BYTES)
        finally:
            body.close()
        return
    with storage.open(field_file.name, "rb") as stored:
        yield from iter(partial(stored.read, CHUNK_BYTES), b"")


def stored_objects(storage: Storage, prefix: str) -> Iterator[tuple[str, datetime]]:
    """(name, last modified) of every object whose name starts with ``prefix``."""
    if is_s3(storage):
        location = storage.location.strip("/")
        key_prefix = f"{location}/{prefix}" if location else prefix
        for summary in storage.bucket.objects.filter(Prefix=key_prefix):
            yield summary.key[len(location) + 1 :] if location else summary.key, summary.last_modified
        return
    if isinstance(storage, FileSystemStorage):
        root = storage.path("")
        for folder, _dirs, files in os.walk(storage.path(prefix)):
            for file_name in files:
                path = os.path.join(folder, file_name)
                name = os.path.relpath(path, root).replace(os.sep, "/")
                yield name, datetime.fromtimestamp(os.path.getmtime(path), tz=UTC)


def presigned_url(field_file: FieldFile) -> str | None:
    """A short-lived URL straight to the private object, or None where storage has none
    (the local filesystem: the app's download view streams the file instead)."""
    return field_file.url if is_s3(field_file.storage) else None
