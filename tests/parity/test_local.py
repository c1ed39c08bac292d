"""The parity test changes only hosts, ports, credentials and TLS parameters of what the stack injects."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from config import contract

from tests.parity import processes
from tests.parity.local import (
    ADDED,
    AWS_ENDPOINTS,
    CREDENTIAL_LOCATIONS,
    REDIS_TLS_PARAMETERS,
    TASK_ROLE_STANDIN,
    LocalServices,
)
from tests.parity.stack import process_definitions, resolved_environment, task_volumes

LOCAL = LocalServices(
    postgres_host="127.0.0.1", postgres_port=5433, postgres_user="postgres", database="keel_f_unit",
    redis_host="127.0.0.1", redis_port=6380, cache_db=6, broker_db=7, s3_endpoint="http://127.0.0.1:5999",
    secrets_endpoint="http://127.0.0.1:5999",
    database_secret_arn="arn:aws:secretsmanager:eu-west-1:123456789012:secret:keel_f_unit-master-AbCdEf",
    web_port=18000, purge_interval=3,
)


@pytest.fixture(scope="module")
def stack_and_local(staging):
    definitions = process_definitions(staging.container_definitions(), task_volumes(staging))
    stored = processes.stored_secrets(staging.secret_values(), definitions)
    as_stack = {name: resolved_environment(d, stored) for name, d in definitions.items()}
    return as_stack, processes.environments(definitions, staging.secret_values(), LOCAL)


def test_same_names_plus_only_the_documented_additions(stack_and_local):
    as_stack, local = stack_and_local
    for process, environment in as_stack.items():
        assert set(local[process]) == set(environment) | ADDED | set(AWS_ENDPOINTS) | set(TASK_ROLE_STANDIN), process
        assert local[process]["AWS_ENDPOINT_URL_SECRETS_MANAGER"] == LOCAL.secrets_endpoint


def test_plain_values_stay_as_the_stack_wrote_them(stack_and_local):
    as_stack, local = stack_and_local
    for process, environment in as_stack.items():
        for name, value in environment.items():
            var = contract.BY_NAME.get(name)
            if name not in ("PORT", *CREDENTIAL_LOCATIONS) and not (var and var.kind == "url"):
                assert local[process][name] == value, f"{process}: {name} changed"
        assert local[process]["PORT"] == str(LOCAL.web_port)


def test_the_database_secret_arn_points_at_the_local_secret(stack_and_local):
    # Staging reads the RDS-managed password from Secrets Manager; locally the moto secret holds it.
    as_stack, local = stack_and_local
    for process, environment in as_stack.items():
        assert environment["DATABASE_SECRET_ARN"].startswith("arn:aws:secretsmanager:"), process
        assert local[process]["DATABASE_SECRET_ARN"] == LOCAL.database_secret_arn, process


def test_urls_keep_their_form_with_local_host_port_and_credentials(stack_and_local):
    as_stack, local = stack_and_local
    for process, environment in as_stack.items():
        for name in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL"):
            before, after = urlsplit(environment[name]), urlsplit(local[process][name])
            assert after.scheme == before.scheme.replace("rediss", "redis"), name
            query_before, query_after = parse_qs(before.query), parse_qs(after.query)
            kept = {key for key in query_before if key not in REDIS_TLS_PARAMETERS}
            assert set(query_after) == kept, f"{name}: parameters {sorted(query_before)} -> {sorted(query_after)}"
            if "sslmode" in query_before:
                assert query_after["sslmode"] == ["disable"]  # the local server has no TLS
            assert after.hostname == "127.0.0.1" and after.password is None
        database = urlsplit(local[process]["DATABASE_URL"])
        assert (database.port, database.path, database.username) == (5433, "/keel_f_unit", "postgres")
        assert urlsplit(local[process]["REDIS_URL"]).path == "/6"
        assert urlsplit(local[process]["CELERY_BROKER_URL"]).path == "/7"


def test_the_staging_stack_sends_tls_urls_that_the_test_must_downgrade(stack_and_local):
    # If staging ever stopped asking for TLS, the parity test would not notice; this does.
    as_stack, _ = stack_and_local
    web = as_stack["web"]
    assert web["REDIS_URL"].startswith("rediss://") and "ssl_cert_reqs=required" in web["REDIS_URL"]
    assert "sslmode=require" in web["DATABASE_URL"] or "sslmode=verify-full" in web["DATABASE_URL"]
