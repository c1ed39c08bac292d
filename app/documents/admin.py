"""Admin for documents (Django registers users itself).

Documents are added only through the page, the API or import_documents, which keep the row
and its object together; here they can be inspected, reprocessed and deleted (row and object).
"""

from __future__ import annotations

from functools import partial

from django.contrib import admin, messages
from django.db import transaction
from django.urls import reverse
from django.utils.html import format_html

from .media import presigned_url
from .models import Document
from .storing import delete_document, enqueue_processing


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):
    list_display = ("original_name", "owner", "status", "size", "content_type", "created_at", "processed_at")
    list_filter = ("status", "content_type", "created_at")
    search_fields = ("original_name", "sha256", "owner__username", "owner__email")
    list_select_related = ("owner",)
    date_hierarchy = "created_at"
    readonly_fields = (
        "owner", "original_name", "download", "size", "sha256", "content_type", "status",
        "created_at", "processed_at", "error",
    )
    exclude = ("file",)
    actions = ("process_again",)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj: Document | None = None) -> bool:
        # Every field is read-only, so the page is a view: no Save buttons that would save nothing.
        # Deleting and the "process again" action stay available.
        return False

    @admin.display(description="Object")
    def download(self, document: Document) -> str:
        url = presigned_url(document) or reverse("documents:download", args=[document.pk])
        return format_html('<a href="{}">{}</a>', url, document.file.name)

    @admin.action(description="Process the selected pending or failed documents again")
    def process_again(self, request, queryset) -> None:
        to_process = list(queryset.exclude(status=Document.Status.PROCESSED).values_list("pk", flat=True))
        Document.objects.filter(pk__in=to_process).update(status=Document.Status.PENDING, error="")
        for document_id in to_process:
            transaction.on_commit(partial(enqueue_processing, document_id), robust=True)
        self.message_user(request, f"Queued {len(to_process)} document(s) for processing.", messages.SUCCESS)

    def delete_model(self, request, obj: Document) -> None:
        delete_document(obj.pk)

    def delete_queryset(self, request, queryset) -> None:
        for document_id in queryset.values_list("pk", flat=True):
            delete_document(document_id)
