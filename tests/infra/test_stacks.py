"""Each committed stack file evaluates under mocks and yields the full inventory and outputs."""

from __future__ import annotations

import importlib
import inspect
import re

from keel import outputs
from keel.evaluate import evaluate_stack

# What `pulumi up` must create on every stack: type -> minimum count.
INVENTORY = {
    "aws:ec2/vpc:Vpc": 1,
    "aws:ec2/subnet:Subnet": 4,
    "aws:ec2/natGateway:NatGateway": 1,
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": 1,
    "aws:ec2/securityGroup:SecurityGroup": 4,
    "aws:rds/instance:Instance": 1,
    "aws:rds/parameterGroup:ParameterGroup": 1,
    "aws:rds/subnetGroup:SubnetGroup": 1,
    "aws:elasticache/replicationGroup:ReplicationGroup": 1,
    "aws:elasticache/parameterGroup:ParameterGroup": 1,
    "aws:s3/bucket:Bucket": 1,
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": 1,
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": 1,
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": 1,
    "aws:s3/bucketPolicy:BucketPolicy": 1,
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": 1,
    "aws:ecr/repository:Repository": 1,
    "aws:ecr/lifecyclePolicy:LifecyclePolicy": 1,
    "docker:index/image:Image": 1,
    "aws:secretsmanager/secret:Secret": 4,
    "aws:secretsmanager/secretVersion:SecretVersion": 4,
    "aws:ecs/cluster:Cluster": 1,
    "aws:cloudwatch/logGroup:LogGroup": 4,
    "aws:ecs/taskDefinition:TaskDefinition": 4,
    "aws:ecs/service:Service": 3,
    "aws:lb/loadBalancer:LoadBalancer": 1,
    "aws:lb/targetGroup:TargetGroup": 1,
    "aws:lb/listener:Listener": 1,
    "aws:iam/role:Role": 2,
}


def test_stack_evaluates_with_full_inventory(stack):
    assert stack.error is None
    expected = dict(INVENTORY)
    if stack.stack == "dev":
        expected.pop("aws:ec2/natGateway:NatGateway")  # natGateways none
    missing = {t: n for t, n in expected.items() if len(stack.by_type(t)) < n}
    assert missing == {}, f"{stack.stack}: missing resources {missing}"


def test_every_output_is_exported(stack):
    names = {value for key, value in vars(outputs).items() if key.isupper() and isinstance(value, str)}
    assert names <= set(stack.outputs), f"missing outputs: {names - set(stack.outputs)}"
    assert stack.outputs[outputs.CONTAINER_NAMES] == {p: p for p in outputs.PROCESSES}
    assert set(stack.outputs[outputs.TASK_DEFINITION_ARNS]) == set(outputs.PROCESSES)
    assert set(stack.outputs[outputs.SERVICE_NAMES]) == set(outputs.SERVICES)
    assert set(stack.outputs[outputs.LOG_GROUP_NAMES]) == set(outputs.PROCESSES)


def test_outputs_join_to_real_resources(stack):
    """A one-off task needs these to match the resources exactly."""
    out = stack.outputs
    arns = {r.arn for r in stack.by_type("aws:ecs/taskDefinition:TaskDefinition")}
    assert set(out[outputs.TASK_DEFINITION_ARNS].values()) == arns
    tier = "public" if out[outputs.TASKS_PUBLIC_IP] else "private"
    assert out[outputs.TASKS_PUBLIC_IP] is (stack.stack == "dev")
    task_subnets = {r.id for r in stack.by_type("aws:ec2/subnet:Subnet") if r.inputs["tags"]["tier"] == tier}
    assert set(out[outputs.PRIVATE_SUBNET_IDS]) == task_subnets
    groups = {r.inputs["tags"]["Name"]: r.id for r in stack.by_type("aws:ec2/securityGroup:SecurityGroup")}
    assert out[outputs.TASK_SECURITY_GROUP_ID] == groups[f"keel-{stack.stack}-tasks"]
    log_groups = {r.inputs["name"] for r in stack.by_type("aws:cloudwatch/logGroup:LogGroup")}
    assert set(out[outputs.LOG_GROUP_NAMES].values()) <= log_groups
    services = {r.inputs["name"] for r in stack.by_type("aws:ecs/service:Service")}
    assert set(out[outputs.SERVICE_NAMES].values()) == services
    assert out[outputs.IMAGE_REF].startswith(out[outputs.REPOSITORY_URL] + "@sha256:")
    media = [r for r in stack.by_type("aws:s3/bucket:Bucket") if "-media-" in r.inputs["bucketPrefix"]]
    assert [out[outputs.BUCKET_NAME]] == [r.id for r in media]


def test_no_output_reveals_a_secret(stack):
    text = repr(stack.outputs)
    for value in stack.secret_values().values():
        assert value not in text


def test_url_is_https_on_a_domain_and_http_only_on_dev(dev, staging, prod):
    assert dev.outputs["url"].startswith("http://") and dev.outputs["url"].endswith(".elb.amazonaws.com")
    assert any("plain HTTP" in w and "keel:domain" in w for w in dev.warnings)
    assert staging.outputs["url"] == "https://staging.example.com"
    assert prod.outputs["url"] == "https://app.example.com"
    assert not any("plain HTTP" in w for w in staging.warnings + prod.warnings)


def resource_parameters(type_: str) -> set[str]:
    """The input names a pulumi-aws resource class accepts (from the provider SDK itself)."""
    module, name = type_.split(":")[1].split("/")[0], type_.split(":")[2]
    resource = getattr(importlib.import_module(f"pulumi_aws.{module}"), name)
    return set(inspect.signature(resource._internal_init).parameters)


def taggable(type_: str) -> bool:
    return "tags" in resource_parameters(type_)


def test_every_input_is_a_real_property_of_its_resource(stack):
    """Mocks accept any key; AWS would not. Catches a misspelt input before `pulumi up` does."""
    unknown = sorted({(r.type, key) for r in stack.resources if r.custom and r.type.startswith("aws:")
                      for key in r.inputs
                      if re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), key) not in resource_parameters(r.type)})
    assert unknown == []


def test_every_taggable_resource_is_tagged(stack):
    types = {r.type for r in stack.resources if r.custom and r.type.startswith("aws:")}
    untagged = sorted(t for t in types if taggable(t)
                      and any("tags" not in r.inputs for r in stack.by_type(t)))
    assert untagged == []


def test_every_taggable_resource_carries_project_and_stack(stack):
    untagged = [r.name for r in stack.resources if r.custom and "tags" in r.inputs
                and not {"project", "stack"} <= set(r.inputs["tags"] or {})]
    assert untagged == []
    tagged = [r for r in stack.resources if r.custom and "tags" in r.inputs]
    assert all(r.inputs["tags"]["stack"] == stack.stack for r in tagged)
    # The resources the console lists by name carry a readable Name tag.
    for t in ("aws:ec2/vpc:Vpc", "aws:ecs/cluster:Cluster", "aws:rds/instance:Instance"):
        assert all(r.inputs["tags"]["Name"].startswith(f"keel-{stack.stack}") for r in stack.by_type(t))


def test_services_wait_for_the_release_gate(stack):
    releases = [r for r in stack.resources if r.name == "release"]
    assert releases, "the release gate is wired"
    for service in stack.by_type("aws:ecs/service:Service"):
        assert "release-run" in service.depends_on, service.name  # the task run itself, not just its component
        assert service.inputs["waitForSteadyState"] is True


def test_deploy_check_waits_for_every_service(stack):
    (check,) = [r for r in stack.resources if r.name == "deploy-check"]
    assert {"svc-web", "svc-worker", "svc-beat"} <= check.depends_on


def test_release_gate_and_deploy_check_use_the_providers_region_and_profile():
    from keel.evaluate import evaluate_stack

    ev = evaluate_stack("dev", overrides={"aws:profile": "acme-dev"})
    runs = {r.name: r.plain_inputs for r in ev.resources if r.type.startswith("pulumi-python:dynamic")}
    assert {"release-run", "deploy-check-run"} <= set(runs)
    for inputs in runs.values():
        assert (inputs["aws"]["region"], inputs["aws"]["profile"]) == ("eu-west-1", "acme-dev")
    release = runs["release-run"]
    assert release["container_name"] == "release"
    assert release["task_definition_arn"] == ev.outputs["taskDefinitionArns"]["release"]
    assert release["timeout_minutes"] == 30


# --- creation order the inputs alone do not give (ResourceRecord.depends_on is what the engine gets) ---


def of_types(stack, *types: str) -> list:
    return [r for r in stack.resources if r.type in types]


def test_release_task_waits_for_rules_routes_and_role_policies(stack):
    (run,) = [r for r in stack.resources if r.name == "release-run"]
    rules = of_types(stack, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
                     "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")
    routes = of_types(stack, "aws:ec2/route:Route", "aws:ec2/routeTableAssociation:RouteTableAssociation",
                      "aws:ec2/natGateway:NatGateway")
    policies = of_types(stack, "aws:iam/rolePolicy:RolePolicy")
    assert rules and routes and len(policies) == 3  # execution, task, queue metrics
    assert [r.name for r in rules + routes + policies if not run.waits_for(r)] == []


def test_task_definitions_wait_for_the_role_policies(stack):
    policies = of_types(stack, "aws:iam/rolePolicy:RolePolicy")
    for process, record in stack.task_definitions().items():
        assert [p.name for p in policies if not record.waits_for(p)] == [], process


def test_database_waits_for_its_monitoring_role_policy(prod):
    (instance,) = prod.by_type("aws:rds/instance:Instance")
    (attachment,) = prod.by_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    assert instance.inputs["monitoringInterval"] > 0 and attachment.name == "rds-monitoring-policy"
    assert instance.waits_for(attachment)


def test_log_writers_wait_for_the_log_bucket_policy(prod):
    """ELB, S3 logging and flow logs check they can write to the bucket when they are set up."""
    (policy,) = [r for r in prod.by_type("aws:s3/bucketPolicy:BucketPolicy") if r.name == "logs-policy"]
    (alb,) = prod.by_type("aws:lb/loadBalancer:LoadBalancer")
    assert alb.inputs["accessLogs"]["enabled"] and alb.waits_for(policy)
    (flow_log,) = prod.by_type("aws:ec2/flowLog:FlowLog")
    assert flow_log.waits_for(policy)
    (logging,) = prod.by_type("aws:s3/bucketLogging:BucketLogging")
    assert logging.waits_for(policy)


def test_database_log_groups_exist_before_the_instance_with_retention_and_key(stack):
    """RDS would create /aws/rds/instance/<id>/<log> itself: kept forever, with no key."""
    (instance,) = stack.by_type("aws:rds/instance:Instance")
    groups = {g.inputs["name"]: g for g in stack.by_type("aws:cloudwatch/logGroup:LogGroup")}
    web_group = next(g for name, g in groups.items() if name.endswith("/web"))
    for export in instance.inputs["enabledCloudwatchLogsExports"]:
        group = groups[f"/aws/rds/instance/{instance.inputs['identifier']}/{export}"]
        assert instance.waits_for(group), export
        assert group.inputs["retentionInDays"] == web_group.inputs["retentionInDays"]
        assert group.inputs.get("kmsKeyId") == web_group.inputs.get("kmsKeyId")


def test_log_bucket_objects_expire_after_the_preset_days(prod):
    (bucket,) = [b for b in prod.by_type("aws:s3/bucket:Bucket") if "-logs-" in b.inputs["bucketPrefix"]]
    (lifecycle,) = [r for r in prod.by_type("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
                    if r.inputs["bucket"] == bucket.id]
    expiring = [rule for rule in lifecycle.inputs["rules"] if rule.get("expiration")]
    assert [(rule["expiration"]["days"], rule["status"]) for rule in expiring] == [(365, "Enabled")]
    (media,) = [b for b in prod.by_type("aws:s3/bucket:Bucket") if "-media-" in b.inputs["bucketPrefix"]]
    media_rules = next(r for r in prod.by_type("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
                       if r.inputs["bucket"] == media.id).inputs["rules"]
    assert not [rule for rule in media_rules if rule.get("expiration")], "media objects never expire"
    shorter = evaluate_stack("prod", overrides={"keel:logBucketExpirationDays": "30"})
    assert [rule["expiration"]["days"] for r in shorter.by_type(
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration") for rule in r.inputs["rules"]
        if rule.get("expiration")] == [30]
