"""Prod trades cost for safety where the presets say so; overrides change one thing at a time."""

from __future__ import annotations

from keel.evaluate import evaluate_stack


def one(stack, type_):
    (record,) = stack.by_type(type_)
    return record


def service(stack, process):
    return next(r.inputs for r in stack.by_type("aws:ecs/service:Service") if r.inputs["name"].endswith(process))


def test_prod_database_is_highly_available_and_protected(dev, prod):
    dev_db, prod_db = one(dev, "aws:rds/instance:Instance"), one(prod, "aws:rds/instance:Instance")
    assert prod_db.inputs["multiAz"] is True and dev_db.inputs["multiAz"] is False
    assert prod_db.inputs["deletionProtection"] is True and dev_db.inputs["deletionProtection"] is False
    assert prod_db.inputs["skipFinalSnapshot"] is False and prod_db.inputs["finalSnapshotIdentifier"]
    assert dev_db.inputs["skipFinalSnapshot"] is True
    assert prod_db.inputs["backupRetentionPeriod"] >= 7 > dev_db.inputs["backupRetentionPeriod"]
    assert prod_db.protect is True and dev_db.protect is False
    assert prod_db.inputs["performanceInsightsEnabled"] is True and prod_db.inputs["performanceInsightsKmsKeyId"]
    assert prod_db.inputs["monitoringInterval"] == 60 and prod_db.inputs["monitoringRoleArn"]


def test_prod_cache_has_a_replica_with_failover(dev, prod):
    dev_cache = one(dev, "aws:elasticache/replicationGroup:ReplicationGroup").inputs
    prod_cache = one(prod, "aws:elasticache/replicationGroup:ReplicationGroup").inputs
    assert prod_cache["numCacheClusters"] >= 2 and dev_cache["numCacheClusters"] == 1
    assert prod_cache["automaticFailoverEnabled"] is True and prod_cache["multiAzEnabled"] is True
    assert dev_cache["automaticFailoverEnabled"] is False
    assert prod_cache["snapshotRetentionLimit"] >= 1 and prod_cache["kmsKeyId"]


def test_prod_has_a_nat_gateway_per_az(dev, staging, prod):
    assert len(dev.by_type("aws:ec2/natGateway:NatGateway")) == 0  # natGateways none: tasks use public IPs
    assert len(staging.by_type("aws:ec2/natGateway:NatGateway")) == 1
    private = [s for s in prod.by_type("aws:ec2/subnet:Subnet") if s.inputs["tags"]["tier"] == "private"]
    assert len(prod.by_type("aws:ec2/natGateway:NatGateway")) == len(private) == 3


def test_prod_runs_redundant_autoscaled_web_and_worker(dev, prod):
    assert service(prod, "web")["desiredCount"] >= 2 and service(dev, "web")["desiredCount"] == 1
    targets = {r.inputs["resourceId"].rsplit("-", 1)[1]: r.inputs for r in
               prod.by_type("aws:appautoscaling/target:Target")}
    assert targets["web"]["minCapacity"] >= 2 and targets["web"]["maxCapacity"] >= targets["web"]["minCapacity"]
    assert set(targets) == {"web", "worker"}
    tracking = [r.inputs["targetTrackingScalingPolicyConfiguration"]
                for r in prod.by_type("aws:appautoscaling/policy:Policy")]
    metrics = {t["predefinedMetricSpecification"]["predefinedMetricType"] for t in tracking
               if "predefinedMetricSpecification" in t}
    assert metrics == {"ECSServiceAverageCPUUtilization", "ALBRequestCountPerTarget"}
    assert sum("customizedMetricSpecification" in t for t in tracking) == 1  # worker's backlog per task
    # dev: only the worker scales (0-2, from zero on its queue); web stays at one task.
    assert [r.inputs["resourceId"].rsplit("-", 1)[1] for r in dev.by_type("aws:appautoscaling/target:Target")] == \
        ["worker"]


def test_prod_encrypts_with_its_own_rotating_key(dev, prod):
    key = one(prod, "aws:kms/key:Key")
    assert key.inputs["enableKeyRotation"] is True and key.inputs["deletionWindowInDays"] >= 7
    assert key.protect is True
    assert dev.by_type("aws:kms/key:Key") == []
    for secret in prod.by_type("aws:secretsmanager/secret:Secret"):
        assert secret.inputs["kmsKeyId"] == key.arn and secret.inputs["recoveryWindowInDays"] >= 7
    for group in prod.by_type("aws:cloudwatch/logGroup:LogGroup"):
        assert group.inputs["kmsKeyId"] == key.arn and group.inputs["retentionInDays"] >= 365


def test_prod_keeps_access_and_flow_logs(dev, prod):
    lb = one(prod, "aws:lb/loadBalancer:LoadBalancer").inputs
    assert lb["accessLogs"]["enabled"] is True and lb["enableDeletionProtection"] is True
    (flow,) = prod.by_type("aws:ec2/flowLog:FlowLog")
    assert flow.inputs["vpcId"] == one(prod, "aws:ec2/vpc:Vpc").id and flow.inputs["trafficType"] == "ALL"
    assert prod.by_type("aws:s3/bucketLogging:BucketLogging")
    versioned = {r.inputs["bucket"] for r in prod.by_type("aws:s3/bucketVersioning:BucketVersioning")
                 if r.inputs["versioningConfiguration"]["status"] == "Enabled"}
    assert versioned == {b.id for b in prod.by_type("aws:s3/bucket:Bucket")}
    assert dev.by_type("aws:ec2/flowLog:FlowLog") == [] and dev.by_type("aws:s3/bucketVersioning:BucketVersioning") == []
    assert "accessLogs" not in one(dev, "aws:lb/loadBalancer:LoadBalancer").inputs


def test_exec_is_off_in_prod_and_audited_where_on(dev, prod):
    assert prod.outputs["execEnabled"] is False and dev.outputs["execEnabled"] is True
    cluster = one(dev, "aws:ecs/cluster:Cluster").inputs
    logging = cluster["configuration"]["executeCommandConfiguration"]
    assert logging["logging"] == "OVERRIDE"
    assert logging["logConfiguration"]["cloudWatchLogGroupName"] == "/keel/dev/exec"


def test_dev_can_be_torn_down_and_prod_cannot(dev, prod):
    dev_media = next(b for b in dev.by_type("aws:s3/bucket:Bucket") if "-media-" in b.inputs["bucketPrefix"])
    prod_media = next(b for b in prod.by_type("aws:s3/bucket:Bucket") if "-media-" in b.inputs["bucketPrefix"])
    assert dev_media.inputs["forceDestroy"] is True and dev_media.protect is False
    assert prod_media.inputs["forceDestroy"] is False and prod_media.protect is True


def test_scaling_one_process_changes_only_that_process():
    process = "worker"
    ev = evaluate_stack("staging", overrides={f"keel:{process}": {"count": 3, "maxCount": 6, "cpu": 1024,
                                                                  "memory": 3072}})
    assert service(ev, process)["desiredCount"] == 3
    other = "web"
    assert service(ev, other)["desiredCount"] == 1
    definitions = ev.container_definitions()
    assert (definitions[process]["cpu"], definitions[process]["memory"]) == (1024, 3072)
    assert definitions[other]["cpu"] == 512
    target = next(r.inputs for r in ev.by_type("aws:appautoscaling/target:Target")
                  if r.inputs["resourceId"].endswith(process))
    assert target["maxCapacity"] == 6


def test_prod_puts_a_web_application_firewall_in_front(dev, prod):
    (association,) = prod.by_type("aws:wafv2/webAclAssociation:WebAclAssociation")
    (acl,) = prod.by_type("aws:wafv2/webAcl:WebAcl")
    assert association.inputs["resourceArn"] == one(prod, "aws:lb/loadBalancer:LoadBalancer").arn
    assert association.inputs["webAclArn"] == acl.arn
    common = next(r for r in acl.inputs["rules"] if r["name"] == "AWSManagedRulesCommonRuleSet")
    # Uploads above 8 KB must pass the firewall; the app enforces its own size limit.
    overrides = common["statement"]["managedRuleGroupStatement"]["ruleActionOverrides"]
    assert {"name": "SizeRestrictions_BODY", "actionToUse": {"count": {}}} in overrides
    assert dev.by_type("aws:wafv2/webAcl:WebAcl") == []


def test_prod_reaches_aws_apis_through_vpc_endpoints(dev, prod):
    prefix = f"com.amazonaws.{prod.outputs['region']}."
    endpoints = {r.inputs["serviceName"].removeprefix(prefix): r.inputs
                 for r in prod.by_type("aws:ec2/vpcEndpoint:VpcEndpoint")}
    assert set(endpoints) == {"s3", "ecr.api", "ecr.dkr", "logs", "secretsmanager"}
    private = {s.id for s in prod.by_type("aws:ec2/subnet:Subnet") if s.inputs["tags"]["tier"] == "private"}
    for service, inputs in endpoints.items():
        if service == "s3":
            assert inputs["vpcEndpointType"] == "Gateway" and len(inputs["routeTableIds"]) == 3
        else:
            assert inputs["privateDnsEnabled"] is True and set(inputs["subnetIds"]) == private
    (group,) = [g for g in prod.by_type("aws:ec2/securityGroup:SecurityGroup") if g.inputs["tags"]["Name"].endswith("-endpoints")]
    ingress = [r.inputs for r in prod.by_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
               if r.inputs["securityGroupId"] == group.id]
    tasks = next(g.id for g in prod.by_type("aws:ec2/securityGroup:SecurityGroup") if g.inputs["tags"]["Name"].endswith("-tasks"))
    assert [(r["fromPort"], r["referencedSecurityGroupId"]) for r in ingress] == [(443, tasks)]
    assert dev.by_type("aws:ec2/vpcEndpoint:VpcEndpoint") == []


def test_tearing_down_prod_as_the_readme_says_still_keeps_a_final_snapshot():
    # docs/stack-config.md "Tearing down": protectData and deletion protection off, then destroy.
    ev = evaluate_stack("prod", overrides={"keel:protectData": "false", "keel:dbDeletionProtection": "false",
                                           "keel:albDeletionProtection": "false"})
    (db,) = ev.by_type("aws:rds/instance:Instance")
    assert db.inputs.get("skipFinalSnapshot") is False
    assert db.inputs["finalSnapshotIdentifier"]
