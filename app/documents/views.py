"""The page at ``/``: the signed-in user's documents and an upload form."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db import transaction
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from .forms import UploadForm
from .media import presigned_url, unstored
from .models import Document
from .storing import DocumentNotStored, UploadRejected, delete_document, store_document
from .uploads import csrf_failure, limit_request_body, uploaded_file

logger = logging.getLogger(__name__)

PAGE_SIZE = 50
# The page refreshes itself while a document this recent is pending (a stuck one does not keep it going).
REFRESH_WHILE_PENDING_FOR = timedelta(minutes=5)


def owned_document(request: HttpRequest, pk: int) -> Document:
    document = Document.objects.filter(owner=request.user, pk=pk).first()
    if document is None:
        raise Http404("No such document among yours.")
    return document


def page(request: HttpRequest, status: int = 200, error: str = "") -> HttpResponse:
    documents = Paginator(Document.objects.filter(owner=request.user), PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "form": UploadForm(),
        "error": error,
        "documents": documents,
        "refresh": any(
            d.status == Document.Status.PENDING and d.created_at > timezone.now() - REFRESH_WHILE_PENDING_FOR
            for d in documents
        ),
    }
    return render(request, "documents/index.html", context, status=status)


def rejected(request: HttpRequest, message: str, status: int) -> HttpResponse:
    return page(request, status=status, error=message)


@login_required
@csrf_exempt  # checked in upload(), after the body limit is in place
@transaction.non_atomic_requests  # store_document commits the row itself
@require_http_methods(["GET", "HEAD", "POST"])
def index(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        return upload(request)
    return page(request)


def upload(request: HttpRequest) -> HttpResponse:
    try:
        limiter = limit_request_body(request)
    except UploadRejected as exc:
        return rejected(request, exc.message, exc.status)
    rejection = csrf_failure(request)
    if rejection is not None:
        return rejection
    try:
        upload = uploaded_file(request, limiter)
        document = store_document(request.user, upload, upload.name)
    except UploadRejected as exc:
        return rejected(request, exc.message, exc.status)
    except DocumentNotStored as exc:
        return rejected(request, str(exc).capitalize() + ".", 503)
    messages.success(request, f"Uploaded {document.original_name}; it is being processed.")
    return redirect("documents:index")


@login_required
@require_http_methods(["GET", "HEAD"])
def download(request: HttpRequest, pk: int) -> HttpResponse:
    if request.user.has_perm("documents.view_document"):  # staff following the admin's link
        document = Document.objects.filter(pk=pk).first()
        if document is None:
            raise Http404("No such document.")
    else:
        document = owned_document(request, pk)
    # A fresh presigned URL on every click, so links on the page never expire.
    url = presigned_url(document)
    if url is not None:
        return unstored(redirect(url))
    stored = document.file.storage.open(document.file.name, "rb")
    return FileResponse(stored, as_attachment=True, filename=document.original_name)


@login_required
@transaction.non_atomic_requests  # delete_document's transaction must be the real commit
@require_POST
def delete(request: HttpRequest, pk: int) -> HttpResponse:
    document = owned_document(request, pk)
    try:
        delete_document(document.pk)
    except Exception:
        logger.exception("could not delete document %s", document.pk)
        messages.error(request, f"Could not delete {document.original_name} right now; it was kept. Try again.")
    else:
        messages.success(request, f"Deleted {document.original_name}.")
    return redirect("documents:index")
