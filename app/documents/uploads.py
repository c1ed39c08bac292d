"""Reading an upload from a request without ever holding more than the limit.

Django's CSRF middleware would parse (and spool to disk) the whole multipart body before any
view runs, so the upload views are CSRF-exempt and call the same check themselves, after
refusing a body that is declared too large and installing a handler that stops reading a
file as soon as it passes DOCUMENT_MAX_BYTES.
"""

from __future__ import annotations

from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler, SkipFile
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import CsrfViewMiddleware

from .storing import UploadRejected, check_size, max_bytes

FIELD = "file"
# Room for the multipart envelope (boundaries, part headers, the CSRF field) around the file.
ENVELOPE_BYTES = 64 * 1024


class SizeLimitHandler(FileUploadHandler):
    """Drops a file once it passes ``limit`` bytes and remembers that it did."""

    def __init__(self, limit: int, request: HttpRequest | None = None) -> None:
        super().__init__(request)
        self.limit = limit
        self.exceeded = False

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        if start + len(raw_data) > self.limit:
            self.exceeded = True
            # The rest of this file is read and dropped, never stored; fields after it (a form's
            # CSRF token may come last) are still parsed, so the CSRF check and our 413 stay exact.
            raise SkipFile
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None


def declared_length(request: HttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def too_large_message() -> str:
    return f"field 'file' is over the {max_bytes()}-byte limit (DOCUMENT_MAX_BYTES)"


def limit_request_body(request: HttpRequest) -> SizeLimitHandler:
    """Refuse a body declared too large, and bound the one that is read. Call before any
    access to request.POST or request.FILES."""
    if declared_length(request) > max_bytes() + ENVELOPE_BYTES:
        raise UploadRejected(413, too_large_message())
    limiter = SizeLimitHandler(max_bytes(), request)
    request.upload_handlers.insert(0, limiter)
    return limiter


def csrf_failure(request: HttpRequest, checker: type[CsrfViewMiddleware] = CsrfViewMiddleware) -> HttpResponse | None:
    """Django's own CSRF check, run where the view chooses; the rejection response or None."""
    return checker(lambda _request: HttpResponse()).process_view(request, None, (), {})


def uploaded_file(request: HttpRequest, limiter: SizeLimitHandler) -> UploadedFile:
    """The one file in field ``file``; raises UploadRejected with 400 or 413."""
    files = request.FILES.getlist(FIELD)
    if limiter.exceeded:
        raise UploadRejected(413, too_large_message())
    if not files:
        raise UploadRejected(400, "field 'file' is required: send the document as multipart/form-data field 'file'")
    if len(files) > 1:
        raise UploadRejected(400, "field 'file' was sent more than once: upload one file per request")
    check_size(files[0].size)
    return files[0]
