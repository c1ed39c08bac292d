"""Issue 15 under mocks: alarms and their topic, events, ERROR-line metrics, the dashboard, queue metrics,
worker scaling, Spot and NAT-less dev networking, each as the committed stacks (and --set) configure them."""

from __future__ import annotations

import json

import pytest
from keel import outputs, stack_config
from keel.evaluate import evaluate_stack

from .helpers import statements

ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
COMPOSITE = "aws:cloudwatch/compositeAlarm:CompositeAlarm"


def config(stack) -> stack_config.StackConfig:
    return stack_config.load(stack.config, stack.stack)


def alarms(stack) -> dict[str, dict]:
    """The paging alarms by short name (not the worker's wake-from-zero alarm, which drives scaling)."""
    return {r.inputs["name"].removeprefix(f"keel-{stack.stack}-"): r.inputs for r in stack.by_type(ALARM)
            if not r.inputs["name"].endswith("wake-from-zero")}


def topic_arn(stack) -> str:
    return stack.outputs[outputs.ALARM_TOPIC_ARN]


def test_every_signal_has_an_alarm_with_the_configured_threshold(stack):
    t = config(stack).alarm_thresholds
    found = alarms(stack)
    expected = {
        "alb-5xx": t.alb_5xx_percent, "target-5xx": t.target_5xx_percent, "p99-latency": t.p99_seconds,
        "unhealthy-hosts": t.unhealthy_hosts, "web-cpu": t.cpu_percent, "worker-cpu": t.cpu_percent,
        "web-memory": t.memory_percent, "worker-memory": t.memory_percent, "db-cpu": t.db_cpu_percent,
        "db-free-storage": t.db_free_storage_gib * 1024 ** 3, "db-connections": t.db_connections,
        "db-freeable-memory": t.db_freeable_memory_mib * 1024 ** 2, "cache-001-memory": t.cache_memory_percent,
        "cache-001-evictions": 1, "cache-001-cpu": t.cache_cpu_percent, "queue-celery-depth": t.queue_depth,
        "queue-celery-oldest": t.oldest_task_seconds, "beat-heartbeat": 1,
        **{f"{p}-errors": t.error_lines for p in outputs.PROCESSES},
    }
    assert {k: found[k]["threshold"] for k in expected} == expected
    for name, alarm in found.items():
        assert alarm["alarmDescription"].count(".") >= 1 and len(alarm["alarmDescription"]) > 30, name


def test_thresholds_follow_the_stack_config():
    staging = evaluate_stack("staging", overrides={"keel:alarmThresholds": {"p99Seconds": 7, "queueDepth": 42}})
    found = alarms(staging)
    assert found["p99-latency"]["threshold"] == 7 and found["queue-celery-depth"]["threshold"] == 42
    gated = next(q for q in found["p99-latency"]["metricQueries"] if q.get("returnData"))
    assert gated["expression"] == f"IF(requests >= {stack_config.ALARM_PRESETS['staging'].min_requests}, p99, 0)"


def test_alarms_reach_the_topic_directly_or_through_a_composite(stack):
    arn = topic_arn(stack)
    composites = stack.by_type(COMPOSITE)
    rules = " ".join(c.inputs["alarmRule"] for c in composites)
    assert all(c.inputs["alarmActions"] == [arn] for c in composites)
    for name, alarm in alarms(stack).items():
        if alarm.get("alarmActions"):
            assert alarm["alarmActions"] == [arn] and alarm["okActions"] == [arn], name
        else:
            assert f'ALARM("keel-{stack.stack}-{name}")' in rules, name


def test_cpu_and_queue_depth_page_only_at_max_count_when_the_service_scales(prod):
    rules = {c.inputs["alarmName"].removeprefix("keel-prod-"): c.inputs["alarmRule"] for c in prod.by_type(COMPOSITE)}
    assert rules["worker-cpu-at-max"] == 'ALARM("keel-prod-worker-cpu") AND ALARM("keel-prod-worker-at-max")'
    assert rules["queue-celery-backlog"] == 'ALARM("keel-prod-queue-celery-depth") AND ALARM("keel-prod-worker-at-max")'
    at_max = alarms(prod)["worker-at-max"]
    assert at_max["threshold"] == config(prod).processes["worker"].max_count
    assert at_max["namespace"] == "ECS/ContainerInsights" and at_max["metricName"] == "RunningTaskCount"


def test_beat_silence_pages(stack):
    heartbeat = alarms(stack)["beat-heartbeat"]
    assert heartbeat["treatMissingData"] == "breaching" and heartbeat["namespace"] == f"keel/{stack.stack}"
    assert heartbeat["comparisonOperator"] == "LessThanThreshold" and heartbeat["metricName"] == "BeatHeartbeat"


def test_prod_topic_is_encrypted_and_publishers_may_use_it(prod, dev):
    (topic,) = prod.by_type("aws:sns/topic:Topic")
    (key,) = prod.by_type("aws:kms/key:Key")
    assert topic.inputs["kmsMasterKeyId"] == key.arn
    key_statements = {s["Sid"]: s for s in statements(key.inputs["policy"])}
    publishers = key_statements["AlarmsPublishToEncryptedTopic"]
    assert set(publishers["Principal"]["Service"]) == {"cloudwatch.amazonaws.com", "events.amazonaws.com"}
    assert set(publishers["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}
    (policy,) = prod.by_type("aws:sns/topicPolicy:TopicPolicy")
    allowed = {s["Sid"]: s for s in statements(policy.inputs["policy"])}["AlarmsAndEventsPublish"]
    assert set(allowed["Principal"]["Service"]) == {"cloudwatch.amazonaws.com", "events.amazonaws.com"}
    assert "kmsMasterKeyId" not in dev.by_type("aws:sns/topic:Topic")[0].inputs  # dev has no key


def test_an_email_subscribes_and_an_existing_topic_replaces_the_own_one():
    existing = "arn:aws:sns:eu-west-1:123456789012:ops-pager"
    mailed = evaluate_stack("dev", overrides={"keel:alarmEmail": "ops@example.org"})
    (subscription,) = mailed.by_type("aws:sns/topicSubscription:TopicSubscription")
    assert subscription.inputs["protocol"] == "email" and subscription.inputs["endpoint"] == "ops@example.org"
    shared = evaluate_stack("dev", overrides={"keel:alarmTopicArn": existing})
    assert shared.by_type("aws:sns/topic:Topic") == [] and shared.outputs[outputs.ALARM_TOPIC_ARN] == existing
    assert {a["alarmActions"][0] for a in alarms(shared).values() if a.get("alarmActions")} == {existing}


def test_alarms_off_creates_no_topic_and_no_alarm():
    quiet = evaluate_stack("dev", overrides={"keel:alarms": "false"})
    assert quiet.by_type("aws:sns/topic:Topic") == [] and [
        a for a in quiet.by_type(ALARM) if "wake-from-zero" not in a.inputs["name"]] == []


def test_deploy_failures_and_database_events_go_to_the_topic(prod):
    rules = {r.inputs["name"]: json.loads(r.inputs["eventPattern"]) for r in
             prod.by_type("aws:cloudwatch/eventRule:EventRule")}
    deploy = rules["keel-prod-deploy-failed"]
    services = {r.arn for r in prod.by_type("aws:ecs/service:Service")}
    assert set(deploy["resources"]) == services and deploy["detail"]["eventName"] == ["SERVICE_DEPLOYMENT_FAILED"]
    database = rules["keel-prod-db-events"]
    assert database["detail"]["SourceIdentifier"] == ["keel-prod-db"]
    assert {"EventID": ["RDS-EVENT-0225"]} in database["detail"]["$or"]
    targets = prod.by_type("aws:cloudwatch/eventTarget:EventTarget")
    assert len(targets) == 2 and {t.inputs["arn"] for t in targets} == {topic_arn(prod)}
    (policy,) = prod.by_type("aws:sns/topicPolicy:TopicPolicy")
    assert all(t.waits_for(policy) for t in targets)


def test_error_lines_are_counted_per_process_from_the_json_level_field(stack):
    filters = {r.inputs["logGroupName"]: r.inputs for r in stack.by_type("aws:cloudwatch/logMetricFilter:LogMetricFilter")}
    groups = stack.outputs[outputs.LOG_GROUP_NAMES]
    assert set(filters) == set(groups.values())
    for process, group in groups.items():
        assert filters[group]["pattern"] == '{ ($.level = "ERROR") || ($.level = "CRITICAL") }'
        transformation = filters[group]["metricTransformation"]
        assert transformation["name"] == f"ErrorLines-{process}"
        assert transformation["namespace"] == f"keel/{stack.stack}"


def test_the_dashboard_groups_signals_by_process_with_deploy_markers(stack):
    (dashboard,) = stack.by_type("aws:cloudwatch/dashboard:Dashboard")
    body = json.loads(dashboard.inputs["dashboardBody"])
    headers = [w["properties"]["markdown"] for w in body["widgets"] if w["type"] == "text"]
    assert headers == ["## web", "## worker", "## beat", "## release", "## database and cache"]
    text = json.dumps(body)
    for signal in ("HTTPCode_Target_5XX_Count", "TargetResponseTime", "QueueDepth", "OldestTaskAgeSeconds",
                   "BeatHeartbeat", "ErrorLines-release", "FreeStorageSpace", "DatabaseMemoryUsagePercentage"):
        assert signal in text, signal
    assert text.count('"DeploymentCount"') == 3  # one marker series per service
    assert stack.outputs[outputs.DASHBOARD_URL].endswith(f"#dashboards/dashboard/keel-{stack.stack}")


def test_only_beats_environment_use_publishes_to_the_namespace_it_may_write(stack):
    namespace = f"keel/{stack.stack}"
    for process, definition in stack.container_definitions().items():
        env = {e["name"]: e["value"] for e in definition["environment"]}
        assert env["QUEUE_METRICS_NAMESPACE"] == namespace, process
    (grant,) = [r for r in stack.by_type("aws:iam/rolePolicy:RolePolicy") if r.name == "queue-metrics-publish"]
    (statement,) = statements(grant.inputs["policy"])
    assert statement["Action"] == "cloudwatch:PutMetricData"
    assert statement["Condition"] == {"StringEquals": {"cloudwatch:namespace": namespace}}
    assert grant.inputs["role"] == f"keel-{stack.stack}-task"
    assert alarms(stack)["queue-celery-depth"]["namespace"] == namespace


def test_queue_metrics_off_removes_the_grant_and_the_variable():
    off = evaluate_stack("staging", overrides={"keel:queueMetrics": "false"})
    assert not [r for r in off.by_type("aws:iam/rolePolicy:RolePolicy") if r.name == "queue-metrics-publish"]
    env = {e["name"] for e in off.container_definitions()["beat"]["environment"]}
    assert "QUEUE_METRICS_NAMESPACE" not in env
    assert all("customizedMetricSpecification" not in p.inputs.get("targetTrackingScalingPolicyConfiguration", {})
               for p in off.by_type("aws:appautoscaling/policy:Policy"))


def policies(stack) -> dict[str, dict]:
    return {r.name: r.inputs for r in stack.by_type("aws:appautoscaling/policy:Policy")}


def test_worker_scales_on_backlog_per_running_task_and_keeps_cpu(prod):
    found = policies(prod)
    assert "scale-worker-cpu" in found
    tracking = found["scale-worker-backlog"]["targetTrackingScalingPolicyConfiguration"]
    assert tracking["targetValue"] == config(prod).processes["worker"].backlog_per_task
    queries = {m["id"]: m for m in tracking["customizedMetricSpecification"]["metrics"]}
    assert queries["backlog"]["expression"] == "depth / running" and queries["backlog"]["returnData"] is True
    depth = queries["depth"]["metricStat"]["metric"]
    running = queries["running"]["metricStat"]["metric"]
    assert (depth["namespace"], depth["metricName"]) == ("keel/prod", "QueueDepth")
    assert (running["namespace"], running["metricName"]) == ("ECS/ContainerInsights", "RunningTaskCount")
    assert {d["name"] for d in running["dimensions"]} == {"ClusterName", "ServiceName"}
    assert "scale-worker-from-zero" not in found  # prod keeps at least two workers


def test_dev_worker_wakes_from_zero_on_waiting_tasks(dev):
    (target,) = dev.by_type("aws:appautoscaling/target:Target")
    assert target.inputs["minCapacity"] == 0
    step = policies(dev)["scale-worker-from-zero"]
    assert step["policyType"] == "StepScaling"
    assert step["stepScalingPolicyConfiguration"]["stepAdjustments"] == [
        {"scalingAdjustment": 1, "metricIntervalLowerBound": "0"}]
    (wake,) = [a for a in dev.by_type(ALARM) if a.inputs["name"] == "keel-dev-worker-wake-from-zero"]
    (policy,) = [r for r in dev.by_type("aws:appautoscaling/policy:Policy") if r.name == "scale-worker-from-zero"]
    assert wake.inputs["alarmActions"] == [policy.arn]
    assert [q for q in wake.inputs["metricQueries"] if q.get("returnData")][0]["expression"] == \
        "IF(FILL(desired, 0) == 0 AND depth >= 1, 1, 0)"


def services(stack) -> dict[str, dict]:
    return {r.inputs["name"].rsplit("-", 1)[1]: r.inputs for r in stack.by_type("aws:ecs/service:Service")}


def test_spot_strategy_where_configured_and_never_for_beat(staging, prod):
    worker = services(staging)["worker"]
    assert "launchType" not in worker
    assert worker["capacityProviderStrategies"] == [
        {"capacityProvider": "FARGATE", "base": 1, "weight": 1}, {"capacityProvider": "FARGATE_SPOT", "base": 0,
                                                                  "weight": 3}]
    assert services(staging)["beat"]["launchType"] == "FARGATE"
    assert all(s["launchType"] == "FARGATE" for s in services(prod).values())
    (providers,) = staging.by_type("aws:ecs/clusterCapacityProviders:ClusterCapacityProviders")
    assert providers.inputs["capacityProviders"] == ["FARGATE", "FARGATE_SPOT"]
    assert providers.inputs["defaultCapacityProviderStrategies"] == [
        {"capacityProvider": "FARGATE", "base": 0, "weight": 1}]
    (service,) = [r for r in staging.by_type("aws:ecs/service:Service") if r.inputs["name"].endswith("worker")]
    assert service.waits_for(providers)


def test_spot_is_refused_for_beat_and_with_arm64():
    with pytest.raises(stack_config.StackConfigError, match=r"keel:beat.spot = 1 is invalid"):
        stack_config.load({"aws:region": "eu-west-1", "keel:beat": '{"spot": 1}'}, "dev")
    with pytest.raises(stack_config.StackConfigError) as caught:
        stack_config.load({"aws:region": "eu-west-1", "keel:architecture": "arm64"}, "dev")
    assert caught.value.messages == [
        "keel:architecture = 'arm64' is invalid with keel:worker.spot = 1: Fargate Spot runs only X86_64; "
        "set keel:worker.spot 0 or keel:architecture x86_64"]


def test_dev_without_nat_runs_tasks_public_and_the_release_gate_too(dev, staging):
    assert dev.by_type("aws:ec2/natGateway:NatGateway") == [] and dev.outputs[outputs.TASKS_PUBLIC_IP] is True
    (run,) = [r for r in dev.resources if r.name == "release-run"]
    public = {r.id for r in dev.by_type("aws:ec2/subnet:Subnet") if r.inputs["tags"]["tier"] == "public"}
    assert run.plain_inputs["assign_public_ip"] is True and set(run.plain_inputs["subnet_ids"]) == public
    private_tables = [r for r in dev.by_type("aws:ec2/routeTable:RouteTable") if "private" in r.inputs["tags"]["Name"]]
    assert private_tables and all(t.inputs.get("routes") in (None, []) for t in private_tables)  # no way out
    # The task group still admits only the load balancer's group.
    groups = {r.inputs["tags"]["Name"]: r.id for r in dev.by_type("aws:ec2/securityGroup:SecurityGroup")}
    into_tasks = [r.inputs for r in dev.by_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
                  if r.inputs["securityGroupId"] == groups["keel-dev-tasks"]]
    assert into_tasks and all(r.get("referencedSecurityGroupId") == groups["keel-dev-alb"] and
                              "cidrIpv4" not in r for r in into_tasks)
    (staging_run,) = [r for r in staging.resources if r.name == "release-run"]
    assert staging_run.plain_inputs["assign_public_ip"] is False and staging.outputs[outputs.TASKS_PUBLIC_IP] is False


def test_cache_alarms_watch_every_node_of_the_replication_group(stack):
    (group,) = stack.by_type("aws:elasticache/replicationGroup:ReplicationGroup")
    nodes = {f"{group.inputs['replicationGroupId']}-{i:03d}" for i in range(1, int(group.inputs["numCacheClusters"]) + 1)}
    watched = {a["dimensions"]["CacheClusterId"] for a in alarms(stack).values()
               if "CacheClusterId" in (a.get("dimensions") or {})}
    assert watched == nodes


def test_arm64_builds_for_graviton_and_runs_arm64_task_definitions():
    arm = evaluate_stack("staging", overrides={"keel:architecture": "arm64", "keel:worker": {"spot": 0}})
    (image,) = arm.by_type("docker:index/image:Image")
    build = image.plain_inputs["build"]
    assert build["platform"] == "linux/arm64" and build["args"]["PLATFORM"] == "linux/arm64"
    for record in arm.task_definitions().values():
        assert record.inputs["runtimePlatform"] == {"operatingSystemFamily": "LINUX", "cpuArchitecture": "ARM64"}
    (x86_image,) = evaluated_stack("staging").by_type("docker:index/image:Image")
    assert x86_image.plain_inputs["build"]["platform"] == "linux/amd64"
    assert "PLATFORM" not in (x86_image.plain_inputs["build"].get("args") or {})  # the Dockerfile's default


def evaluated_stack(name: str):
    from .conftest import evaluated

    return evaluated(name)
