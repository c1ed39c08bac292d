"""The media storage backend in production: django-storages' S3Storage, writing the headers the
app chose for each object rather than the type the uploading client declared.

A separate module so boto3 loads only with the storage itself (see media.is_s3).
"""

from __future__ import annotations

from storages.backends.s3 import S3Storage


class DocumentS3Storage(S3Storage):
    def _get_write_parameters(self, name, content=None):
        params = super()._get_write_parameters(name, content)
        # Set by documents.storing from the sniffed type: ContentType and ContentDisposition.
        params.update(getattr(content, "object_parameters", None) or {})
        return params
