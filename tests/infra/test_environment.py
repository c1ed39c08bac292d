"""Every process gets the app's whole environment contract; credentials only through `secrets`."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from keel import contract
from keel.environment import ContractError, StackValues, container_environment, web_concurrency
from keel.evaluate import evaluate_stack
from keel.outputs import PROCESSES

STACK_SOURCED = [v.name for v in contract.CONTRACT if v.source == "stack"]
REQUIRED = list(contract.production_required())
SECRET = set(contract.secret_names())


def env_of(definition) -> dict[str, str]:
    return {item["name"]: item["value"] for item in definition["environment"]}


def secrets_of(definition) -> dict[str, str]:
    return {item["name"]: item["valueFrom"] for item in definition["secrets"]}


def test_every_process_gets_every_required_and_stack_variable(stack):
    for process, definition in stack.container_definitions().items():
        provided = set(env_of(definition)) | set(secrets_of(definition))
        assert set(REQUIRED) <= provided, f"{process}: missing {set(REQUIRED) - provided}"
        assert set(STACK_SOURCED) <= provided, f"{process}: missing {set(STACK_SOURCED) - provided}"


def test_credentials_only_in_secrets(stack):
    for process, definition in stack.container_definitions().items():
        assert not SECRET & set(env_of(definition)), process
        assert set(secrets_of(definition)) <= SECRET
        for ref in secrets_of(definition).values():
            assert ref.startswith("arn:aws:secretsmanager:"), ref
        # No secret value leaks into a plain variable either.
        plain = " ".join(env_of(definition).values())
        for value in stack.secret_values().values():
            assert value not in plain


def test_production_mode_is_explicit(stack):
    for definition in stack.container_definitions().values():
        assert env_of(definition)["DJANGO_DEBUG"] == "false"
        assert env_of(definition)["PORT"] == str(contract.PORT)


def test_release_runs_with_exactly_webs_environment(stack):
    definitions = stack.container_definitions()
    assert definitions["release"]["environment"] == definitions["web"]["environment"]
    assert definitions["release"]["secrets"] == definitions["web"]["secrets"]
    assert definitions["release"]["image"] == definitions["web"]["image"]
    assert definitions["release"]["command"] != definitions["web"]["command"]


def test_hosts_and_origins_follow_the_domain(dev, prod):
    web = env_of(prod.container_definitions()["web"])
    assert web["DJANGO_ALLOWED_HOSTS"] == "app.example.com"
    assert web["DJANGO_CSRF_TRUSTED_ORIGINS"] == "https://app.example.com"
    dev_web = env_of(dev.container_definitions()["web"])
    assert dev_web["DJANGO_ALLOWED_HOSTS"] == dev.outputs["url"].removeprefix("http://")
    assert dev_web["AWS_STORAGE_BUCKET_NAME"] == dev.outputs["bucketName"]
    assert dev_web["AWS_S3_REGION_NAME"] == dev.outputs["region"]


def test_https_mode_follows_the_domain(dev, staging, prod):
    """Dev without a domain is served over plain HTTP: the app must not redirect to a missing https://."""
    for ev, expected in ((dev, "false"), (staging, "true"), (prod, "true")):
        assert ev.outputs["url"].startswith("https://" if expected == "true" else "http://")
        for process, definition in ev.container_definitions().items():
            assert env_of(definition)["DJANGO_HTTPS"] == expected, (ev.stack, process)


def test_web_concurrency_follows_each_process_size(prod):
    definitions = prod.container_definitions()
    for process in ("web", "worker", "beat"):
        assert env_of(definitions[process])["WEB_CONCURRENCY"] == str(web_concurrency(definitions[process]["cpu"]))
    assert web_concurrency(256) == 2 and web_concurrency(1024) == 3 and web_concurrency(4096) == 9


def test_secret_references_resolve_to_tls_urls(stack):
    values = stack.secret_values()
    refs = secrets_of(stack.container_definitions()["web"])
    database = urlsplit(values[refs["DATABASE_URL"]])
    assert database.scheme == "postgres" and parse_qs(database.query)["sslmode"] == ["require"]
    # No password in the URL: it would sit in Pulumi state and go stale at RDS's first rotation.
    assert database.username == "keel_admin" and database.password is None and "@" in database.netloc
    assert database.hostname == stack.by_type("aws:rds/instance:Instance")[0].inputs["identifier"] + \
        ".abcdefghijkl.eu-west-1.rds.amazonaws.com"
    redis = urlsplit(values[refs["REDIS_URL"]])
    broker = urlsplit(values[refs["CELERY_BROKER_URL"]])
    assert redis.scheme == broker.scheme == "rediss"
    assert parse_qs(redis.query)["ssl_cert_reqs"] == ["required"] == parse_qs(broker.query)["ssl_cert_reqs"]
    assert (redis.path, broker.path) == ("/0", "/1")
    token = stack.by_type("aws:elasticache/replicationGroup:ReplicationGroup")[0].plain_inputs["authToken"]
    assert redis.password == token == broker.password
    assert len(values[refs["DJANGO_SECRET_KEY"]]) >= 50


def managed_secret_arn(stack) -> str:
    """The RDS-managed master secret, as the web container is told it (the mock's ARN shape)."""
    arn = env_of(stack.container_definitions()["web"])["DATABASE_SECRET_ARN"]
    assert re.fullmatch(r"arn:aws:secretsmanager:eu-west-1:\d{12}:secret:rds!db-[0-9a-f]+", arn), arn
    return arn


def secret_readers(stack, policy_name: str) -> tuple[set[str], list[dict]]:
    """(secret ARNs the role may read, its kms:Decrypt statements)."""
    from tests.infra.helpers import as_list, statements

    (policy,) = [r for r in stack.by_type("aws:iam/rolePolicy:RolePolicy") if r.name == policy_name]
    readable, decrypt = set(), []
    for statement in statements(policy.inputs["policy"]):
        if "secretsmanager:GetSecretValue" in as_list(statement["Action"]):
            readable |= set(as_list(statement["Resource"]))
        if "kms:Decrypt" in as_list(statement["Action"]):
            decrypt.append(statement)
    return readable, decrypt


def test_database_password_is_read_by_the_app_from_the_rds_managed_secret(stack):
    """Rotation: the app gets the managed secret's ARN and reads the current password when it connects."""
    (instance,) = stack.by_type("aws:rds/instance:Instance")
    assert instance.inputs["manageMasterUserPassword"] is True
    assert "password" not in instance.inputs
    arn = managed_secret_arn(stack)
    for process, definition in stack.container_definitions().items():
        assert env_of(definition)["DATABASE_SECRET_ARN"] == arn, process
        assert "DATABASE_PASSWORD" not in secrets_of(definition) and "DATABASE_PASSWORD" not in env_of(definition)
    # Nothing the stack writes (hence Pulumi state) holds a database password.
    for value in stack.secret_values().values():
        if value and value.startswith("postgres"):
            assert urlsplit(value).password is None, "a database password in a stack-written secret"


def test_task_role_reads_exactly_the_managed_database_secret(stack):
    readable, decrypt = secret_readers(stack, "roles-task")
    assert readable == {managed_secret_arn(stack)}
    keys = stack.by_type("aws:kms/key:Key")
    via = [s for s in decrypt if "Condition" in s]
    if keys:  # the stack's key: decrypt only through Secrets Manager (the secret) and S3 (media objects)
        assert len(via) == len(decrypt) == 2, "every use of the key names the service that makes it"
        assert sorted((s["Resource"], s["Condition"]["StringEquals"]["kms:ViaService"]) for s in via) == [
            (keys[0].arn, "s3.eu-west-1.amazonaws.com"), (keys[0].arn, "secretsmanager.eu-west-1.amazonaws.com")]
    else:  # the AWS-managed aws/secretsmanager key allows its own service: no key grant needed
        assert decrypt == []


def test_execution_role_reads_exactly_the_injected_secrets(stack):
    refs = set(secrets_of(stack.container_definitions()["web"]).values())
    readable, _ = secret_readers(stack, "roles-execution")
    assert readable == refs
    assert managed_secret_arn(stack) not in readable  # the app reads that one itself (task role)


def test_a_changed_secret_rolls_every_service(dev):
    """A new secret value changes every task definition, so ECS starts new tasks with it."""
    key = "z" * 25 + "y" * 25 + "cdefg"
    after = evaluate_stack("dev", overrides={"keel:djangoSecretKey": key})
    assert key in after.secret_values().values()
    for process in PROCESSES:
        old = dev.container_definitions()[process]
        new = after.container_definitions()[process]
        assert old["dockerLabels"] != new["dockerLabels"], process
        assert {k: v for k, v in old.items() if k != "dockerLabels"} == \
            {k: v for k, v in new.items() if k != "dockerLabels"}
        assert key not in repr(new)


def test_user_env_reaches_every_process():
    ev = evaluate_stack("dev", overrides={"keel:env": {"LOG_LEVEL": "DEBUG", "DOCUMENT_RETENTION_DAYS": "7"}})
    for definition in ev.container_definitions().values():
        env = env_of(definition)
        assert env["LOG_LEVEL"] == "DEBUG" and env["DOCUMENT_RETENTION_DAYS"] == "7"


def values(**changes) -> StackValues:
    base = dict(allowed_hosts=["a.example.com"], csrf_origins=["https://a.example.com"], bucket="b",
                region="eu-west-1", secret_refs={name: f"arn:{name}" for name in
                                                 ("DATABASE_URL", "REDIS_URL", "DJANGO_SECRET_KEY")})
    base.update(changes)
    return StackValues(**base)


def test_environment_refuses_to_leave_a_required_variable_out():
    refs = {"DATABASE_URL": "arn:db", "DJANGO_SECRET_KEY": "arn:key"}
    with pytest.raises(ContractError, match="REDIS_URL"):
        container_environment(values(secret_refs=refs), 256)


def test_environment_refuses_a_plain_contract_variable_as_a_secret():
    with pytest.raises(ContractError, match="LOG_LEVEL"):
        container_environment(values(secret_refs={**values().secret_refs, "LOG_LEVEL": "arn:x"}), 256)


def test_environment_refuses_a_variable_both_plain_and_secret():
    with pytest.raises(ContractError, match="STRIPE_API_KEY"):
        container_environment(values(secret_refs={**values().secret_refs, "STRIPE_API_KEY": "arn:x"},
                                     user_env={"STRIPE_API_KEY": "x"}), 256)


def test_secret_key_rotation_keeps_the_old_key_as_a_secret():
    new, old = "n" * 25 + "abcdefghij" * 3, "o" * 25 + "klmnopqrst" * 3
    ev = evaluate_stack("dev", overrides={"keel:djangoSecretKey": new, "keel:djangoSecretKeyFallbacks": old})
    web = ev.container_definitions()["web"]
    values = ev.secret_values()
    assert values[secrets_of(web)["DJANGO_SECRET_KEY"]] == new
    assert values[secrets_of(web)["DJANGO_SECRET_KEY_FALLBACKS"]] == old
    assert "DJANGO_SECRET_KEY_FALLBACKS" not in env_of(web) and old not in repr(web)
