"""Attaching existing backing services by URL (factor IV): no RDS / ElastiCache, the URLs go to secrets."""

from __future__ import annotations

import pytest
from keel.evaluate import evaluate_stack

DATABASE_URL = "postgres://app:s3cret@db.example.net:6543/app?sslmode=verify-full"
REDIS_URL = "rediss://:t0ken@cache.example.net:6380/0?ssl_cert_reqs=required"


@pytest.fixture(scope="module")
def attached():
    return evaluate_stack("staging", overrides={"keel:databaseUrl": DATABASE_URL, "keel:redisUrl": REDIS_URL})


def refs(ev):
    return {s["name"]: s["valueFrom"] for s in ev.container_definitions()["web"]["secrets"]}


def test_no_database_or_cache_is_created(attached):
    assert attached.by_type("aws:rds/instance:Instance") == []
    assert attached.by_type("aws:elasticache/replicationGroup:ReplicationGroup") == []
    names = {r.inputs["tags"]["Name"] for r in attached.by_type("aws:ec2/securityGroup:SecurityGroup")}
    assert names == {"keel-staging-alb", "keel-staging-tasks"}


def test_attached_urls_reach_the_app_as_secrets(attached):
    values = attached.secret_values()
    found = refs(attached)
    assert values[found["DATABASE_URL"]] == DATABASE_URL
    assert values[found["REDIS_URL"]] == REDIS_URL
    assert values[found["CELERY_BROKER_URL"]] == "rediss://:t0ken@cache.example.net:6380/1?ssl_cert_reqs=required"
    assert "DATABASE_PASSWORD" not in found
    env = " ".join(e["value"] for e in attached.container_definitions()["web"]["environment"])
    assert "s3cret" not in env and "t0ken" not in env


def test_an_attached_database_keeps_its_password_in_the_url(attached):
    """No RDS-managed secret: DATABASE_SECRET_ARN stays unset and the task role reads no secret."""
    from tests.infra.helpers import statements

    for definition in attached.container_definitions().values():
        assert "DATABASE_SECRET_ARN" not in {e["name"] for e in definition["environment"]}
    task = next(r for r in attached.by_type("aws:iam/rolePolicy:RolePolicy") if r.name == "roles-task")
    assert not [s for s in statements(task.inputs["policy"]) if "secretsmanager:GetSecretValue" in s["Action"]]


def test_tasks_may_reach_the_attached_ports(attached):
    tasks = next(r.id for r in attached.by_type("aws:ec2/securityGroup:SecurityGroup")
                 if r.inputs["tags"]["Name"].endswith("-tasks"))
    ports = {r.inputs["fromPort"] for r in attached.by_type("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")
             if r.inputs["securityGroupId"] == tasks}
    assert ports == {443, 6543, 6380}


def test_secure_stack_values_are_placeholders_marked_secret(tmp_path):
    """`{secure: ...}` values in a stack file are set-but-secret for the program, as on AWS."""
    root = tmp_path
    (root / "Pulumi.yaml").write_text((evaluate_stack.__globals__["repo_root"]() / "Pulumi.yaml").read_text())
    from keel.evaluate import read_stack_config
    (root / "Pulumi.dev.yaml").write_text("config:\n  aws:region: eu-west-1\n"
                                          "  keel:databaseUrl:\n    secure: v1:abc\n")
    config, secret_keys = read_stack_config(root, "keel", "dev")
    assert secret_keys == ["keel:databaseUrl"]
    assert config["keel:databaseUrl"].startswith("postgres://")


def test_attached_services_without_tls_are_warned_about(attached):
    assert not [w for w in attached.warnings if "databaseUrl" in w or "redisUrl" in w]
    plain = evaluate_stack("staging", overrides={"keel:databaseUrl": "postgres://a:b@db.example.net/app",
                                                 "keel:redisUrl": "redis://cache.example.net:6379/0"})
    assert any("keel:databaseUrl has no sslmode" in w for w in plain.warnings)
    assert any("keel:redisUrl uses redis://" in w for w in plain.warnings)
    assert not any(":b@" in w for w in plain.warnings)


def test_an_attached_redis_on_database_1_gets_its_broker_on_database_2():
    # The app refuses a broker that shares the cache's database, so the stack must not write one.
    on_1 = REDIS_URL.replace("/0?", "/1?")
    ev = evaluate_stack("staging", overrides={"keel:redisUrl": on_1})
    broker = ev.secret_values()[refs(ev)["CELERY_BROKER_URL"]]
    assert broker == "rediss://:t0ken@cache.example.net:6380/2?ssl_cert_reqs=required"
