"""The two media storages the app runs on, where they differ: S3 (production, private bucket)
and the local filesystem (debug only). Reading, listing and linking go through here."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import partial

from django.core.files.storage import FileSystemStorage, Storage
from django.db.models.fields.files import FieldFile
from django.utils.http import content_disposition_header

from .sniff import OCTET_STREAM

CHUNK_BYTES = 1024 * 1024

# Types a browser shows without running anything: served inline. Everything else is an attachment,
# text included (an HTML or SVG file without a signature sniffs as text/plain).
INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf"})
# Words in a type a browser may parse as a document or script (text/html, image/svg+xml,
# application/xhtml+xml, text/javascript ...): served as plain text, never as that type.
ACTIVE_MARKERS = ("html", "xml", "svg", "script", "text/")


def served_type(detected: str) -> str:
    """The Content-Type an object is stored and served with, from the type sniffed from its bytes
    (never the client's claim): passive types as they are, text as UTF-8 plain text, and anything a
    browser could render as a page or run as a script as plain text too."""
    if detected in INLINE_TYPES:
        return detected
    if detected == "text/plain" or any(marker in detected for marker in ACTIVE_MARKERS):
        return "text/plain; charset=utf-8"
    return detected or OCTET_STREAM


def object_headers(detected: str, filename: str) -> dict[str, str]:
    """S3 ContentType and ContentDisposition for an object of sniffed type ``detected`` named
    ``filename`` (already sanitised by storing.display_name): inline only for INLINE_TYPES.
    S3 can store no X-Content-Type-Options (only its system metadata is ever returned as a response
    header), so the type itself must be one no browser renders actively."""
    inline = detected in INLINE_TYPES
    return {"ContentType": served_type(detected),
            "ContentDisposition": content_disposition_header(not inline, filename)}


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
        body = s3_object_body(storage, field_file.name)
        try:
            yield from body.iter_chunks(CHUNK_BYTES)
        finally:
            body.close()
        return
    with storage.open(field_file.name, "rb") as stored:
        yield from iter(partial(stored.read, CHUNK_BYTES), b"")


def s3_object_body(storage: Storage, name: str):
    """The streaming body of ``name``'s object, from one GET. Not ``storage.open``: its S3File sends a
    HEAD before anything is read (and its ``read`` downloads the whole object into memory). That HEAD
    was a second request per document and, in each worker child, another pass through botocore's
    request code, copying about 1.6 MiB more of the pages it shares with the main process.
    A missing object raises FileNotFoundError, as ``storage.open`` does."""
    from botocore.exceptions import ClientError
    from s3transfer.constants import ALLOWED_DOWNLOAD_ARGS
    from storages.utils import clean_name

    key = storage._normalize_name(clean_name(name))  # the storage's own location prefix rule
    # What S3File would send with its requests too (SSE-C keys, RequestPayer), should the storage set any.
    parameters = {k: v for k, v in storage.get_object_parameters(key).items() if k in ALLOWED_DOWNLOAD_ARGS}
    try:
        return storage.connection.meta.client.get_object(Bucket=storage.bucket_name, Key=key, **parameters)["Body"]
    except ClientError as error:
        if error.response["ResponseMetadata"]["HTTPStatusCode"] == 404:
            raise FileNotFoundError(f"File does not exist: {key}") from error
        raise


def stored_objects(storage: Storage, prefix: str) -> Iterator[tuple[str, datetime]]:
    """(name, last modified) of every object whose name starts with ``prefix``."""
    if is_s3(storage):
        location = storage.location.strip("/")
        key_prefix = f"{location}/{prefix}" if location else prefix
        # The client's paginator, not boto3's resource collection over it: the same ListObjectsV2
        # requests without the resource layer's code, which the worker's pool processes would each
        # copy from the main process when they first run it (docs/benchmarks.md, worker memory).
        pages = storage.connection.meta.client.get_paginator("list_objects_v2").paginate(
            Bucket=storage.bucket_name, Prefix=key_prefix)
        for page in pages:
            for entry in page.get("Contents", ()):
                key = entry["Key"]
                yield key[len(location) + 1 :] if location else key, entry["LastModified"]
        return
    if isinstance(storage, FileSystemStorage):
        root = storage.path("")
        for folder, _dirs, files in os.walk(storage.path(prefix)):
            for file_name in files:
                path = os.path.join(folder, file_name)
                name = os.path.relpath(path, root).replace(os.sep, "/")
                yield name, datetime.fromtimestamp(os.path.getmtime(path), tz=UTC)


def unstored(response):
    """``response`` marked Cache-Control: no-store: it carries a presigned URL, a bearer credential
    for the object until it expires, which no browser or proxy cache may keep."""
    response["Cache-Control"] = "no-store"
    return response


def presigned_url(document) -> str | None:
    """A short-lived URL straight to the document's private object, or None where storage has none
    (the local filesystem: the app's download view streams the file instead). The URL overrides
    the response's Content-Type and Content-Disposition as object_headers says (S3's
    response-content-* parameters), so objects stored before those headers were set are served
    safely too; a document not yet processed is an octet-stream attachment until it is."""
    storage = document.file.storage
    if not is_s3(storage):
        return None
    headers = object_headers(document.content_type or OCTET_STREAM, document.original_name)
    overrides = {"ResponseContentType": headers["ContentType"],
                 "ResponseContentDisposition": headers["ContentDisposition"]}
    return storage.url(document.file.name, parameters=overrides)
