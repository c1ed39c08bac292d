"""Fixtures of the documents tests: users, signed-in clients that do CSRF like a browser, and
views of what really sits in the moto S3 bucket."""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile
from django.test import Client

ORIGIN = "https://testserver"


class SignedInClient:
    """A signed-in browser: HTTPS through the load balancer, CSRF enforced, token echoed back.
    (Users have no password: force_login skips the deliberately slow hashing.)"""

    def __init__(self, user) -> None:
        self.user = user
        self.http = Client(enforce_csrf_checks=True, headers={"X-Forwarded-Proto": "https", "Origin": ORIGIN})
        self.http.force_login(user)

    def csrf_token(self) -> str:
        if "csrftoken" not in self.http.cookies:
            self.http.get("/api/documents/")
        return self.http.cookies["csrftoken"].value

    def upload(self, content: bytes, name: str = "notes.txt", path: str = "/api/documents/", **extra):
        upload = ContentFile(content, name=name)
        return self.http.post(path, {"file": upload}, headers={"X-CSRFToken": self.csrf_token()}, **extra)

    def __getattr__(self, name):
        return getattr(self.http, name)


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user("alice", "alice@example.com")


@pytest.fixture
def other_user(django_user_model):
    return django_user_model.objects.create_user("bob", "bob@example.com")


@pytest.fixture
def browser(user, s3_server) -> SignedInClient:
    return SignedInClient(user)


@pytest.fixture
def stored_keys(s3_client):
    """The object keys really stored in the bucket for one owner."""
    import os

    bucket = os.environ["AWS_STORAGE_BUCKET_NAME"]

    def keys(owner) -> list[str]:
        listing = s3_client.list_objects_v2(Bucket=bucket, Prefix=f"documents/{owner.pk}/")
        return sorted(item["Key"] for item in listing.get("Contents", []))

    return keys


@pytest.fixture
def stored_bytes(s3_client):
    import os

    bucket = os.environ["AWS_STORAGE_BUCKET_NAME"]
    return lambda key: s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()


@pytest.fixture
def make_document(s3_server):
    """Store a document the way an upload does (object and row), without processing it."""
    from documents.storing import store_document

    def make(owner, content: bytes = b"hello world\n", name: str = "hello.txt"):
        return store_document(owner, ContentFile(content, name=name), name)

    return make


@pytest.fixture
def storage_settings(settings):
    """Point media storage elsewhere for one test (Django resets the storage on the change)."""

    def use(**options):
        default = dict(settings.STORAGES["default"])
        default["OPTIONS"] = {**default.get("OPTIONS", {}), **options}
        settings.STORAGES = {**settings.STORAGES, "default": default}

    return use


@pytest.fixture
def missing_bucket(storage_settings):
    """Storage whose bucket does not exist: every write fails for real with NoSuchBucket."""
    storage_settings(bucket_name="keel-test-no-such-bucket")


@pytest.fixture
def storage_outage(storage_settings):
    """Call it to cut storage off: an endpoint where nothing listens, so every call fails
    with a real connection error (one attempt, no retry back-off)."""
    from botocore.config import Config

    from tests.app.bootstrap import free_loopback_port

    def cut() -> None:
        storage_settings(
            endpoint_url=f"http://127.0.0.1:{free_loopback_port()}",
            client_config=Config(retries={"total_max_attempts": 1}, connect_timeout=1),
        )

    return cut
