"""Fixtures of the parity test: the image, the evaluated staging stack, and this test's own
database, Redis indexes and S3 bucket on loopback."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.parity import oci
from tests.parity.local import LocalServices

IMAGE = os.environ.get("KEEL_PARITY_IMAGE", "keel-app")
DATABASE = f"keel_f_parity_{os.getpid()}"  # per run: two concurrent runs never share a database
CACHE_DB, BROKER_DB = 6, 7  # this test's Redis database indexes
PURGE_INTERVAL = 3  # seconds between beat's purge runs in the test (the app's default is an hour)
REDIS_LOCK_WAIT = 900  # seconds to wait for another parity run to release the Redis databases


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def image(tmp_path_factory) -> dict:
    """The image built from the repository's Dockerfile, once per session (layers are cached
    between sessions, so an unchanged tree rebuilds in seconds)."""
    reason = oci.unusable_reason()
    if reason and os.environ.get("KEEL_REQUIRE_IMAGE"):  # CI: a skipped image proof is a failed one
        pytest.fail(f"cannot build the image (KEEL_REQUIRE_IMAGE is set): {reason}")
    if reason:
        pytest.skip(f"cannot build the image: {reason}")
    log = tmp_path_factory.mktemp("image") / "build.log"
    started = time.monotonic()
    try:  # the image tests time their bodies only: this build has its own limit
        built = oci.build(IMAGE, log)
    except subprocess.TimeoutExpired as expired:
        pytest.fail(f"`oci build -t {IMAGE} .` took over {expired.timeout:.0f} s:\n{log.read_text()[-4000:]}")
    if built.returncode != 0:
        pytest.fail(f"`oci build -t {IMAGE} .` failed ({built.returncode}):\n{log.read_text()[-4000:]}")
    return {"tag": IMAGE, "build_seconds": time.monotonic() - started, "size": oci.size(IMAGE)}


@pytest.fixture(scope="session")
def staging():
    """The staging stack evaluated under Pulumi mocks (no AWS, no Pulumi CLI)."""
    from keel.evaluate import evaluate_stack

    return evaluate_stack("staging")


@pytest.fixture
def parity_database() -> Iterator[str]:
    """A fresh, empty database of this test's own on the local Postgres."""
    import psycopg

    admin = os.environ.get("KEEL_PARITY_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        connection.execute(f"CREATE DATABASE {DATABASE}")
    yield DATABASE
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")


@pytest.fixture
def parity_redis() -> Iterator[tuple[int, int]]:
    """This test's two Redis database indexes, emptied (never FLUSHALL: Redis is shared), and held:
    two parity runs at once (two checkouts on one machine) would share one broker, and each
    worker would take the other's tasks. A lock file serialises them."""
    import fcntl

    import redis

    lock_path = Path(tempfile.gettempdir()) / f"keel-parity-redis-{CACHE_DB}-{BROKER_DB}.lock"
    with lock_path.open("w") as lock:
        deadline = time.monotonic() + REDIS_LOCK_WAIT
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    pytest.fail(f"another parity run held Redis databases {CACHE_DB} and {BROKER_DB} "
                                f"({lock_path}) for over {REDIS_LOCK_WAIT} s")
                time.sleep(1)
        for db in (CACHE_DB, BROKER_DB):
            client = redis.Redis(host="127.0.0.1", port=6379, db=db)
            client.flushdb()
            client.close()
        yield CACHE_DB, BROKER_DB


@dataclass
class DatabaseSecret:
    arn: str
    reads: list[str]  # the SecretId of every GetSecretValue the moto server answered


def stack_database_secret_region(staging) -> str:
    """The region of the secret ARN the stack gives web in DATABASE_SECRET_ARN (the app's client uses it)."""
    environment = {item["name"]: item["value"] for item in staging.container_definitions()["web"]["environment"]}
    return environment["DATABASE_SECRET_ARN"].split(":")[3]


@pytest.fixture
def database_secret(s3_server, staging, monkeypatch) -> Iterator[DatabaseSecret]:
    """RDS's master secret, locally: a secret on the moto server holding the local Postgres login.
    Every GetSecretValue the server answers is recorded (the server runs in this process), so the
    test can show the containers really read it: the local Postgres trusts loopback and would
    accept any password."""
    import boto3
    from moto.secretsmanager.models import SecretsManagerBackend

    from tests.parity.processes import LOCAL_DB_PASSWORD

    reads: list[str] = []
    answer = SecretsManagerBackend.get_secret_value

    def recorded(backend, secret_id, *args, **kwargs):
        reads.append(secret_id)
        return answer(backend, secret_id, *args, **kwargs)

    monkeypatch.setattr(SecretsManagerBackend, "get_secret_value", recorded)
    client = boto3.client("secretsmanager", endpoint_url=s3_server, region_name=stack_database_secret_region(staging),
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    created = client.create_secret(Name=f"{DATABASE}-master",
                                   SecretString=json.dumps({"username": "postgres", "password": LOCAL_DB_PASSWORD}))
    yield DatabaseSecret(arn=created["ARN"], reads=reads)
    client.delete_secret(SecretId=created["ARN"], ForceDeleteWithoutRecovery=True)


@pytest.fixture
def local_services(parity_database, parity_redis, s3_server, database_secret) -> LocalServices:
    return LocalServices(
        postgres_host="127.0.0.1", postgres_port=5432, postgres_user="postgres", database=parity_database,
        redis_host="127.0.0.1", redis_port=6379, cache_db=parity_redis[0], broker_db=parity_redis[1],
        s3_endpoint=s3_server, secrets_endpoint=s3_server, database_secret_arn=database_secret.arn,
        web_port=free_port(), purge_interval=PURGE_INTERVAL,
    )


@pytest.fixture
def containers() -> Iterator[list[oci.Container]]:
    """Every container the test starts; whatever is still running at the end is killed and removed."""
    started: list[oci.Container] = []
    yield started
    for container in started:
        container.kill()


@pytest.fixture
def s3(s3_server):
    import boto3

    return boto3.client("s3", endpoint_url=s3_server, region_name="eu-west-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")
