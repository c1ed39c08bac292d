"""The suite's own environment: Django runs in production mode against moto's S3."""

from __future__ import annotations

import os

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage


def test_django_runs_in_production_mode_with_the_test_environment():
    assert settings.DEBUG is False
    assert settings.SECURE_SSL_REDIRECT is True
    assert settings.STORAGES["default"]["OPTIONS"]["bucket_name"] == "keel-test-media"
    assert settings.STORAGES["default"]["OPTIONS"]["endpoint_url"] == os.environ["AWS_S3_ENDPOINT_URL"]


def test_s3_server_stores_media_in_a_private_bucket(s3_server, s3_client):
    name = default_storage.save("bootstrap/hello.txt", ContentFile(b"hello"))
    try:
        body = s3_client.get_object(Bucket="keel-test-media", Key=name)["Body"].read()
        assert body == b"hello"
        url = default_storage.url(name)
        assert url.startswith(s3_server) and "X-Amz-Signature=" in url  # presigned, not public
        acl = s3_client.get_object_acl(Bucket="keel-test-media", Key=name)
        assert [g["Permission"] for g in acl["Grants"]] == ["FULL_CONTROL"]  # owner only
    finally:
        default_storage.delete(name)
