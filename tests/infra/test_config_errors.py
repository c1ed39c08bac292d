"""Malformed stack config stops the program with one line per problem: key, bad value, allowed values."""

from __future__ import annotations

import json

import pytest
from keel.evaluate import evaluate_stack
from keel.stack_config import StackConfigError, load


def problems(stack: str = "dev", region: str | None = "eu-west-1", **keys) -> list[str]:
    raw = {f"keel:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in keys.items()}
    if region is not None:
        raw["aws:region"] = region
    with pytest.raises(StackConfigError) as caught:
        load(raw, stack)
    return caught.value.messages


def only(stack: str = "dev", **keys) -> str:
    found = problems(stack, **keys)
    assert len(found) == 1, found
    return found[0]


def assert_names(message: str, *parts: str) -> None:
    for part in parts:
        assert part in message, f"{part!r} not in {message!r}"


def test_fargate_memory_must_match_cpu():
    message = only(web={"cpu": 256, "memory": 4096})
    assert_names(message, "keel:web.memory", "4096", "cpu 256")
    # Every allowed value, and nothing between them: 1536 is not a Fargate size for 256 CPU units.
    assert message.endswith("Fargate allows 512, 1024, 2048 MiB")


def test_fargate_memory_message_lists_every_allowed_value():
    message = only(worker={"cpu": 4096, "memory": 4096})
    assert message.endswith("Fargate allows " + ", ".join(str(m) for m in range(8192, 30721, 1024)) + " MiB")


def test_fargate_cpu_must_be_a_fargate_size():
    assert_names(only(worker={"cpu": 300}), "keel:worker.cpu", "300", "256, 512, 1024, 2048, 4096, 8192, 16384")


def test_release_size_is_checked_too():
    assert_names(only(release={"cpu": 1024, "memory": 1024}), "keel:release.memory", "1024",
                 "2048, 3072, 4096, 5120, 6144, 7168, 8192 MiB")


def test_count_out_of_range():
    assert_names(only(worker={"count": 500}), "keel:worker.count", "500", "0 to 100")


def test_min_count_above_max_count():
    message = " ".join(problems(web={"minCount": 5, "maxCount": 3, "count": 4}))
    assert_names(message, "keel:web.minCount", "5", "maxCount (3)")


def test_count_outside_autoscaling_range():
    assert_names(only(web={"count": 1, "minCount": 2, "maxCount": 4}), "keel:web.count", "1", "minCount (2)",
                 "maxCount (4)")


def test_beat_runs_exactly_once():
    assert_names(only(beat={"count": 2}), "keel:beat.count", "2", "exactly 1")


def test_unknown_process_field():
    assert_names(only(web={"cpus": 512}), "keel:web.cpus", "512", "cpu, memory, count, minCount, maxCount")


def test_process_config_must_be_an_object():
    assert_names(only(web="big"), "keel:web", "big", "an object", "--path")


def test_log_retention_must_be_a_cloudwatch_value():
    assert_names(only(logRetentionDays="45"), "keel:logRetentionDays", "45", "30, 60, 90", "3653")


def test_rds_instance_class_format():
    assert_names(only(dbInstanceClass="t3.micro"), "keel:dbInstanceClass", "t3.micro", "db.t4g.micro")


def test_cache_node_type_format():
    assert_names(only(cacheNodeType="db.t4g.micro"), "keel:cacheNodeType", "db.t4g.micro", "cache.t4g.micro")


def test_postgres_older_than_16_is_refused():
    assert_names(only(dbEngineVersion="14"), "keel:dbEngineVersion", "14", "16 or newer")


def test_backup_retention_range():
    assert_names(only(dbBackupRetentionDays="0"), "keel:dbBackupRetentionDays", "0", "1 to 35")


def test_boolean_values():
    assert_names(only(dbMultiAz="yes"), "keel:dbMultiAz", "yes", "true or false")


def test_az_count_range():
    assert_names(only(azCount="1"), "keel:azCount", "1", "2 to 3")


def test_nat_mode_choice():
    assert_names(only(natGateways="nowhere"), "keel:natGateways", "nowhere", "none, single, perAz")


def test_tasks_without_nat_only_on_dev_class_stacks():
    for stack in ("staging", "prod"):
        assert_names(only(stack, natGateways="none", domain="app.example.com", hostedZoneId="Z0123456789EXAMPLE0AB"),
                     "keel:natGateways", "none", "dev", "public IP")


def test_domain_without_certificate():
    assert_names(only(domain="app.example.com"), "keel:domain", "app.example.com", "keel:certificateArn",
                 "keel:hostedZoneId")


def test_certificate_arn_format():
    message = " ".join(problems(domain="app.example.com", certificateArn="arn:aws:acm:eu-west-1:1:certificate/x"))
    assert_names(message, "keel:certificateArn", "certificate/x", "arn:aws:acm:")


def test_domain_format():
    assert_names(" ".join(problems(domain="App_Example", hostedZoneId="Z0123456789ABC")), "keel:domain",
                 "App_Example", "app.example.com")


def test_https_stacks_need_a_domain():
    assert_names(only("staging"), "keel:domain", "staging", "plain HTTP only on dev")


def test_unknown_key():
    assert_names(only(webb="1"), "keel:webb", "not a known key", "web, worker, beat, release")


def test_unknown_preset():
    assert_names(only(preset="qa"), "keel:preset", "qa", "dev, staging, prod")


def test_region_is_required():
    assert_names(only(region=None), "aws:region", "pulumi config set aws:region")


def test_region_format():
    assert_names(only(region="Ireland"), "aws:region", "Ireland", "eu-west-1")


@pytest.mark.parametrize("region", ["us-gov-west-1", "cn-north-1", "cn-northwest-1"])
def test_regions_outside_the_aws_partition_are_refused(region):
    """The stack writes arn:aws ARNs and amazonaws.com principals: a GovCloud or China region would get
    policies that name nothing there, so the config stops before any resource."""
    assert_names(only(region=region), "aws:region", region, "standard AWS partition", "eu-west-1")


def test_storage_ceiling_below_allocation():
    assert_names(only(dbAllocatedStorage="100", dbMaxAllocatedStorage="50"), "keel:dbMaxAllocatedStorage", "50",
                 "keel:dbAllocatedStorage = 100", "at least 110")


@pytest.mark.parametrize("maximum", ["100", "109"])
def test_storage_ceiling_must_be_ten_percent_above_allocation(maximum):
    """RDS answers "Invalid max storage size" for a ceiling less than 10 % above the allocation."""
    assert_names(only(dbAllocatedStorage="100", dbMaxAllocatedStorage=maximum), "keel:dbMaxAllocatedStorage",
                 maximum, "at least 110")
    assert load({"aws:region": "eu-west-1", "keel:dbAllocatedStorage": "100", "keel:dbMaxAllocatedStorage": "110"},
                "dev").db_max_allocated_storage == 110


@pytest.mark.parametrize(("engine", "version", "allowed"), [
    ("valkey", "7.1", "Valkey starts at 7.2"),
    ("valkey", "7.0", "Valkey starts at 7.2"),
    ("redis", "8.0", "7.0 or 7.1"),
])
def test_cache_engine_version_exists_for_the_engine(engine, version, allowed):
    assert_names(only(cacheEngine=engine, cacheEngineVersion=version), "keel:cacheEngineVersion", version,
                 f"keel:cacheEngine = {engine!r}", allowed)


def test_cache_engine_versions_that_exist_load():
    for engine, version in (("valkey", "7.2"), ("valkey", "8.1"), ("redis", "7.1")):
        config = load({"aws:region": "eu-west-1", "keel:cacheEngine": engine, "keel:cacheEngineVersion": version},
                      "dev")
        assert (config.cache_engine, config.cache_engine_version) == (engine, version)


def test_log_bucket_expiration_is_a_positive_number_of_days():
    assert_names(only(logBucketExpirationDays="0"), "keel:logBucketExpirationDays", "0")


def test_performance_insights_needs_a_medium_or_larger_instance():
    assert_names(only(dbPerformanceInsights="true", dbInstanceClass="db.t4g.micro"), "keel:dbPerformanceInsights",
                 "db.t4g.micro", "db.t*.medium and larger")


def test_env_rejects_credentials():
    assert_names(only(env={"DATABASE_PASSWORD": "x"}), "keel:env.DATABASE_PASSWORD", "credential",
                 "pulumi config set --secret --path 'keel:secrets.DATABASE_PASSWORD'")
    assert_names(only(env={"DJANGO_SECRET_KEY_FALLBACKS": "x"}), "keel:env.DJANGO_SECRET_KEY_FALLBACKS",
                 "pulumi config set --secret keel:djangoSecretKeyFallbacks")


def test_env_rejects_stack_owned_variables():
    assert_names(only(env={"PORT": "9000"}), "keel:env.PORT", "set by the stack")
    # A deployed stack never runs in debug mode.
    assert_names(only(env={"DJANGO_DEBUG": "true"}), "keel:env.DJANGO_DEBUG", "set by the stack", "production mode")


def test_env_values_are_checked_against_the_contract():
    assert_names(only(env={"LOG_LEVEL": "LOUD"}), "keel:env.LOG_LEVEL", "LOUD", "DEBUG, INFO, WARNING")
    assert_names(only(env={"DOCUMENT_RETENTION_DAYS": "0"}), "keel:env.DOCUMENT_RETENTION_DAYS", "'0'", "1 or more")


def test_weak_secret_key_is_refused_without_echoing_it():
    message = only(djangoSecretKey="short-key")
    assert_names(message, "keel:djangoSecretKey", "9 characters", "at least 50")
    assert "short-key" not in message


def test_attached_database_url_scheme_without_echoing_it():
    message = only(databaseUrl="mysql://user:hunter2@db:3306/app")
    assert_names(message, "keel:databaseUrl", "'mysql'", "postgres or postgresql or pgsql")
    assert "hunter2" not in message


def test_every_problem_is_reported_at_once():
    found = problems(azCount="9", logRetentionDays="2", web={"cpu": 256, "memory": 8192}, bogus="1")
    assert len(found) == 4
    assert {m.split(" ")[0] for m in found} == {"keel:azCount", "keel:logRetentionDays", "keel:web.memory",
                                                 "keel:bogus"}


def test_the_program_stops_before_creating_anything():
    ev = evaluate_stack("dev", overrides={"keel:logRetentionDays": "45"}, raise_errors=False)
    assert isinstance(ev.error, StackConfigError)
    assert ev.resources == []
    assert "keel:logRetentionDays = '45' is invalid" in str(ev.error)
    # The stack after a failed run evaluates normally (no state leaks between evaluations).
    assert evaluate_stack("dev").error is None


def test_pulumi_prints_config_errors_without_a_traceback():
    """pulumi.RunError is how a Pulumi program ends with a message only."""
    import pulumi

    ev = evaluate_stack("dev", overrides={"keel:azCount": "9"}, raise_errors=False)
    assert isinstance(ev.error, pulumi.RunError) and isinstance(ev.error, StackConfigError)
    assert ev.error.messages == ["keel:azCount = '9' is invalid: allowed a whole number from 2 to 3"]


def test_weak_fallback_key_is_named_by_position_without_echoing_it():
    strong = "k" * 30 + "abcdefghij" * 3
    message = only(djangoSecretKeyFallbacks=f"{strong},tiny-old-key")
    assert_names(message, "keel:djangoSecretKeyFallbacks", "key 2", "12 characters", "at least 50")
    assert "tiny-old-key" not in message


@pytest.mark.parametrize("stack", ["Feature_X", "a-very-long-stack-name-for-a-branch"])
def test_stack_names_must_make_valid_aws_names(stack):
    message = " ".join(problems(stack, preset="dev"))
    assert_names(message, f"stack name {stack!r}", "lower-case letters, digits and single hyphens", "28 characters")


def committed_config(stack: str) -> dict[str, str]:
    import yaml
    from keel.evaluate import repo_root

    config = yaml.safe_load((repo_root() / f"Pulumi.{stack}.yaml").read_text())["config"]
    return {key: value if isinstance(value, str) else json.dumps(value) for key, value in config.items()}


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_the_committed_example_domain_and_zone_stop_a_real_up(stack):
    from keel.stack_config import placeholder_problems

    found = placeholder_problems(load(committed_config(stack), stack))
    assert [line.split(" = ")[0] for line in found] == ["keel:domain", "keel:hostedZoneId"]
    assert all("is the committed example" in line and "pulumi config set" in line for line in found)


def test_your_own_domain_and_zone_pass():
    from keel.stack_config import placeholder_problems

    raw = {**committed_config("staging"), "keel:domain": "staging.acme.io", "keel:hostedZoneId": "Z04412345ABCDEFGHIJK"}
    assert placeholder_problems(load(raw, "staging")) == []
