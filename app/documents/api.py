"""The JSON API: session-authenticated, CSRF-enforced, errors always as JSON.

POST /api/documents/        multipart field ``file``  -> 201 and the document
GET  /api/documents/        the caller's documents, newest first, paginated (?page=N)
GET  /api/documents/<id>/   one of the caller's documents
DELETE /api/documents/<id>/ delete it, row and object

Every answer under /api/ is JSON, errors as ``{"error": message, "status": code}``: the views'
own, and through the URLconf's handler400/403/404/500 (below) whatever Django or a middleware
raises first (an unparseable body, a database down while the session's user is looked up: 503
with Retry-After).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.middleware.csrf import CsrfViewMiddleware, get_token
from django.urls import reverse
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt

from .media import presigned_url, unstored
from .models import Document
from .storing import DocumentNotStored, UploadRejected, delete_document, store_document
from .uploads import csrf_failure, limit_request_body, uploaded_file

logger = logging.getLogger(__name__)

PAGE_SIZE = 50


def json_error(status: int, message: str, **headers: str) -> JsonResponse:
    response = JsonResponse({"error": message, "status": status}, status=status)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


API_PREFIX = "/api/"
RETRY_AFTER_SECONDS = "5"


def is_api(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """handler400: an unreadable request (a multipart part with a 1 KB header, too many fields)."""
    if not is_api(request):
        return defaults.bad_request(request, exception)
    if isinstance(exception, RequestDataTooBig):
        return json_error(413, f"the request body is too large: {exception}")
    if isinstance(exception, MultiPartParserError):
        return json_error(400, f"the multipart body could not be parsed: {exception} Send one file in field 'file'.")
    return json_error(400, "bad request: the request could not be read")


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if not is_api(request):
        return defaults.permission_denied(request, exception)
    return json_error(403, "forbidden")


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if not is_api(request):
        return defaults.page_not_found(request, exception)
    return json_error(404, f"no such endpoint: {request.path}; see /api/documents/")


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500, called while the exception is being handled: a backing service that is down
    is a 503 the client may retry; anything else a 500 naming the request id for the logs."""
    if not is_api(request):
        return defaults.server_error(request)
    exception = sys.exc_info()[1]
    if isinstance(exception, DatabaseError) or _is_redis_outage(exception):
        return json_error(503, "a backing service is unavailable; try again shortly", Retry_After=RETRY_AFTER_SECONDS)
    request_id = getattr(request, "request_id", "")
    return json_error(500, f"internal error; quote request id {request_id} when reporting it")


def _is_redis_outage(exception: BaseException | None) -> bool:
    redis = sys.modules.get("redis.exceptions")  # loaded only where the cache has been used
    return redis is not None and isinstance(exception, (redis.ConnectionError, redis.TimeoutError))


class JsonCsrfCheck(CsrfViewMiddleware):
    def _reject(self, request, reason):
        return json_error(403, f"CSRF check failed: {reason} Send the csrftoken cookie's value in X-CSRFToken.")


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})  # as django.middleware.csrf


def api_view(*methods: str) -> Callable:
    """Method, authentication, body-size and CSRF checks shared by every endpoint, in that order."""

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def checked(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if request.method not in methods:
                return json_error(405, f"method {request.method} is not allowed here; use {', '.join(methods)}",
                                  Allow=", ".join(methods))
            if not request.user.is_authenticated:
                return json_error(401, "authentication required: sign in at " + reverse("login"))
            # Every signed-in client gets the csrftoken cookie it echoes in X-CSRFToken. Only when it
            # lacks one: get_token also re-masks the secret and re-sends the cookie, random numbers
            # from the kernel on every response for a cookie the client already holds.
            if settings.CSRF_COOKIE_NAME not in request.COOKIES:
                get_token(request)
            if request.method in SAFE_METHODS:  # no body to read, and Django's CSRF check accepts them as is
                return view(request, *args, **kwargs)
            try:
                limiter = limit_request_body(request)
            except UploadRejected as exc:
                return json_error(exc.status, exc.message)
            rejection = csrf_failure(request, JsonCsrfCheck)
            if rejection is not None:
                return rejection
            request.upload_limiter = limiter
            return view(request, *args, **kwargs)

        # The view decides its transactions: an upload must commit its row itself.
        return csrf_exempt(transaction.non_atomic_requests(checked))

    return decorate


# What a listed document shows; the stored file's key is not among them (its link is our download view).
LISTED_FIELDS = ("id", "original_name", "status", "size", "sha256", "content_type", "error", "created_at",
                 "processed_at")
# Stands in for a document id while a URL is reversed once per request (see links_to).
_ANY_ID = 9_876_543_210


def links_to(view_name: str, request: HttpRequest) -> Callable[[int], str]:
    """document id -> absolute URL of ``view_name`` for it. reverse() and the host check behind
    build_absolute_uri run once here, not once per listed document, where they cost more than the
    rest of the row."""
    template = request.build_absolute_uri(reverse(view_name, args=[_ANY_ID]))
    before, after = template.rsplit(str(_ANY_ID), 1)  # the last one: the id is in the path, after the host
    return lambda document_id: f"{before}{document_id}{after}"


def as_json(document: dict, url: str, download_url: str) -> dict:
    """A document's row (``values(*LISTED_FIELDS)``) as the API shows it."""
    return {
        "id": document["id"],
        "name": document["original_name"],
        "status": document["status"],
        "size": document["size"],
        "sha256": document["sha256"] or None,
        "content_type": document["content_type"] or None,
        "error": document["error"] or None,
        "created_at": document["created_at"].isoformat(),
        "processed_at": document["processed_at"].isoformat() if document["processed_at"] else None,
        "url": url,
        "download_url": download_url,
    }


def row_of(document: Document) -> dict:
    return {name: getattr(document, name) for name in LISTED_FIELDS}


def one_as_json(document: Document, request: HttpRequest) -> dict:
    """One document, with a presigned, short-lived link straight to its private object on S3
    (locally: our download view)."""
    return as_json(
        row_of(document),
        links_to("documents:api-detail", request)(document.pk),
        presigned_url(document) or links_to("documents:download", request)(document.pk),
    )


@api_view("GET", "POST")
def documents(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        return create(request)
    return listing(request)


def create(request: HttpRequest) -> HttpResponse:
    try:
        upload = uploaded_file(request, request.upload_limiter)
        document = store_document(request.user, upload, upload.name)
    except UploadRejected as exc:
        return json_error(exc.status, exc.message)
    except DocumentNotStored as exc:
        return json_error(503, str(exc), Retry_After=RETRY_AFTER_SECONDS)
    response = unstored(JsonResponse(one_as_json(document, request), status=201))
    response["Location"] = reverse("documents:api-detail", args=[document.pk])
    return response


def page_number(request: HttpRequest) -> int | None:
    """The ?page=N asked for (1 without one), None when it is not a whole number from 1 up."""
    text = request.GET.get("page", "1")
    return int(text) if text.isdigit() and int(text) >= 1 else None


def listing(request: HttpRequest) -> HttpResponse:
    # Rows as dicts (values()), not model instances: the list shows fields, never calls methods.
    documents = Document.objects.filter(owner=request.user)
    number = page_number(request)
    offset = ((number or 1) - 1) * PAGE_SIZE
    rows = list(documents.values(*LISTED_FIELDS)[offset:offset + PAGE_SIZE]) if number else []
    # A page that is not full is the last one, so its rows give the count: no COUNT query for the
    # common case of a caller with fewer documents than a page.
    count = offset + len(rows) if 0 < len(rows) < PAGE_SIZE or (number == 1 and not rows) else documents.count()
    pages = max(1, -(-count // PAGE_SIZE))
    if number is None or number > pages:
        return json_error(404, f"no page {request.GET.get('page')!r}: pages run from 1 to {pages}")
    base = request.build_absolute_uri(reverse("documents:api-list"))
    detail_url, download_url = links_to("documents:api-detail", request), links_to("documents:download", request)
    return JsonResponse({
        "count": count,
        "next": f"{base}?page={number + 1}" if number < pages else None,
        "previous": f"{base}?page={number - 1}" if number > 1 else None,
        # Links to our download view (it redirects to a fresh presigned URL), not presigned ones:
        # signing per row would cost the list a boto3 signature per document, for links most callers
        # never follow.
        "results": [as_json(row, detail_url(row["id"]), download_url(row["id"])) for row in rows],
    })


@api_view("GET", "DELETE")
def document(request: HttpRequest, pk: int) -> HttpResponse:
    found = Document.objects.filter(owner=request.user, pk=pk).first()
    if found is None:
        # The same answer for someone else's document as for none: ids reveal nothing.
        return json_error(404, f"no document {pk} among yours")
    if request.method == "DELETE":
        try:
            delete_document(found.pk)
        except Exception:
            logger.exception("could not delete document %s", found.pk)
            return json_error(503, "storage or database unavailable: the document was kept whole, try again",
                              Retry_After=RETRY_AFTER_SECONDS)
        return HttpResponse(status=204)
    return unstored(JsonResponse(one_as_json(found, request)))
