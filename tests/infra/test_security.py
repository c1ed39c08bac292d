"""Security properties of every stack: network graph, encryption, TLS, public access, IAM."""

from __future__ import annotations

from keel.stack_config import LOG_RETENTION_DAYS

from tests.infra.helpers import as_list, statements

SG = "aws:ec2/securityGroup:SecurityGroup"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
WORLD = {"0.0.0.0/0", "::/0"}


def groups(stack) -> dict[str, str]:
    """{role (alb, tasks, db, cache) -> security group id}."""
    prefix = f"keel-{stack.stack}-"
    return {r.inputs["tags"]["Name"].removeprefix(prefix): r.id for r in stack.by_type(SG)}


def rules(stack, type_, group_id):
    return [r.inputs for r in stack.by_type(type_) if r.inputs["securityGroupId"] == group_id]


def test_default_security_group_is_adopted_closed(stack):
    (vpc,) = stack.by_type("aws:ec2/vpc:Vpc")
    (default,) = stack.by_type("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")
    assert default.inputs["vpcId"] == vpc.id
    assert not default.inputs.get("ingress") and not default.inputs.get("egress")


def test_security_groups_are_described_and_managed_by_rule_resources_only(stack):
    for group in stack.by_type(SG):
        assert group.inputs["description"].strip()
        assert not group.inputs.get("ingress") and not group.inputs.get("egress"), group.name
    for rule in stack.by_type(INGRESS) + stack.by_type(EGRESS):
        assert rule.inputs["description"].strip()
        assert rule.inputs["ipProtocol"] == "tcp"
        assert rule.inputs["fromPort"] == rule.inputs["toPort"]


def test_only_the_load_balancer_takes_traffic_from_the_world(stack):
    ids = groups(stack)
    world = [r.inputs for r in stack.by_type(INGRESS) if r.inputs.get("cidrIpv4") in WORLD]
    assert {r["securityGroupId"] for r in world} == {ids["alb"]}
    expected = {80} if stack.stack == "dev" else {80, 443}
    assert {r["fromPort"] for r in world} == expected


def test_tasks_databases_and_caches_admit_only_their_one_peer(stack):
    ids = groups(stack)
    assert [(r["fromPort"], r.get("referencedSecurityGroupId")) for r in rules(stack, INGRESS, ids["tasks"])] == \
        [(8000, ids["alb"])]
    assert [(r["fromPort"], r.get("referencedSecurityGroupId")) for r in rules(stack, INGRESS, ids["db"])] == \
        [(5432, ids["tasks"])]
    assert [(r["fromPort"], r.get("referencedSecurityGroupId")) for r in rules(stack, INGRESS, ids["cache"])] == \
        [(6379, ids["tasks"])]
    for role in ("tasks", "db", "cache"):
        assert not any(r.get("cidrIpv4") for r in rules(stack, INGRESS, ids[role]))


def test_egress_is_limited_to_what_each_tier_needs(stack):
    ids = groups(stack)
    assert [(r["fromPort"], r.get("referencedSecurityGroupId")) for r in rules(stack, EGRESS, ids["alb"])] == \
        [(8000, ids["tasks"])]
    task_egress = {(r["fromPort"], r.get("referencedSecurityGroupId") or r.get("cidrIpv4"))
                   for r in rules(stack, EGRESS, ids["tasks"])}
    assert task_egress == {(443, "0.0.0.0/0"), (5432, ids["db"]), (6379, ids["cache"])}
    assert rules(stack, EGRESS, ids["db"]) == [] and rules(stack, EGRESS, ids["cache"]) == []


def test_every_security_group_is_used(stack):
    ids = groups(stack)
    (lb,) = stack.by_type("aws:lb/loadBalancer:LoadBalancer")
    assert lb.inputs["securityGroups"] == [ids["alb"]]
    for service in stack.by_type("aws:ecs/service:Service"):
        assert service.inputs["networkConfiguration"]["securityGroups"] == [ids["tasks"]]
    assert stack.by_type("aws:rds/instance:Instance")[0].inputs["vpcSecurityGroupIds"] == [ids["db"]]
    assert stack.by_type("aws:elasticache/replicationGroup:ReplicationGroup")[0].inputs["securityGroupIds"] == \
        [ids["cache"]]
    endpoint_groups = {g for r in stack.by_type("aws:ec2/vpcEndpoint:VpcEndpoint")
                       for g in r.inputs.get("securityGroupIds") or []}
    assert set(ids.values()) == {ids["alb"], ids["tasks"], ids["db"], ids["cache"]} | endpoint_groups


def test_no_public_ips_and_private_placement(stack):
    subnets = {r.id: r.inputs for r in stack.by_type("aws:ec2/subnet:Subnet")}
    assert all(s["mapPublicIpOnLaunch"] is False for s in subnets.values())
    private = {i for i, s in subnets.items() if s["tags"]["tier"] == "private"}
    public = {i for i, s in subnets.items() if s["tags"]["tier"] == "public"}
    no_nat = stack.config.get("keel:natGateways", "none" if stack.stack == "dev" else "") == "none"
    for service in stack.by_type("aws:ecs/service:Service"):
        network = service.inputs["networkConfiguration"]
        # Without NAT (dev preset) the tasks run public, still behind the task group that admits only the ALB.
        assert network["assignPublicIp"] is no_nat and set(network["subnets"]) == (public if no_nat else private)
    assert set(stack.by_type("aws:rds/subnetGroup:SubnetGroup")[0].inputs["subnetIds"]) == private
    assert set(stack.by_type("aws:elasticache/subnetGroup:SubnetGroup")[0].inputs["subnetIds"]) == private
    (lb,) = stack.by_type("aws:lb/loadBalancer:LoadBalancer")
    assert set(lb.inputs["subnets"]) == public
    assert len({subnets[s]["availabilityZone"] for s in lb.inputs["subnets"]}) >= 2
    assert stack.by_type("aws:rds/instance:Instance")[0].inputs["publiclyAccessible"] is False


def test_database_is_encrypted_tls_only_and_backed_up(stack):
    (db,) = stack.by_type("aws:rds/instance:Instance")
    inputs = db.inputs
    assert inputs["storageEncrypted"] is True
    assert inputs["username"] not in ("postgres", "admin", "root")
    assert inputs["backupRetentionPeriod"] >= 1 and inputs["copyTagsToSnapshot"] is True
    assert inputs["autoMinorVersionUpgrade"] is True
    assert inputs["caCertIdentifier"] in ("rds-ca-rsa2048-g1", "rds-ca-rsa4096-g1", "rds-ca-ecc384-g1")
    assert int(inputs["engineVersion"].split(".")[0]) >= 16 and inputs["engine"] == "postgres"
    assert set(inputs["enabledCloudwatchLogsExports"]) >= {"postgresql", "upgrade"}
    (params,) = stack.by_type("aws:rds/parameterGroup:ParameterGroup")
    assert inputs["parameterGroupName"].startswith(params.inputs["namePrefix"])
    assert {"name": "rds.force_ssl", "value": "1"} in [
        {k: p[k] for k in ("name", "value")} for p in params.inputs["parameters"]]
    assert params.inputs["family"] == f"postgres{inputs['engineVersion'].split('.')[0]}"


def test_cache_is_encrypted_authenticated_and_never_evicts(stack):
    (group,) = stack.by_type("aws:elasticache/replicationGroup:ReplicationGroup")
    inputs = group.inputs
    assert inputs["atRestEncryptionEnabled"] is True and inputs["transitEncryptionEnabled"] is True
    assert "4dabf18193072939515e22adb298388d" in inputs["authToken"], "the auth token is a secret"
    token = group.plain_inputs["authToken"]
    assert 16 <= len(token) <= 128 and not set(token) & set('/"@ ')
    assert inputs["autoMinorVersionUpgrade"] is True
    (params,) = stack.by_type("aws:elasticache/parameterGroup:ParameterGroup")
    assert inputs["parameterGroupName"] == params.inputs["name"]
    assert [{k: p[k] for k in ("name", "value")} for p in params.inputs["parameters"]] == \
        [{"name": "maxmemory-policy", "value": "noeviction"}]
    (subnets,) = stack.by_type("aws:elasticache/subnetGroup:SubnetGroup")
    assert inputs["subnetGroupName"] == subnets.inputs["name"]


def _bucket_parts(stack, bucket_id):
    return {r.type.split(":")[-1]: r.inputs for r in stack.resources
            if r.type.startswith("aws:s3/") and r.inputs.get("bucket") == bucket_id and r.type != "aws:s3/bucket:Bucket"}


def test_every_bucket_is_private_encrypted_and_tls_only(stack):
    for bucket in stack.by_type("aws:s3/bucket:Bucket"):
        parts = _bucket_parts(stack, bucket.id)
        block = parts["BucketPublicAccessBlock"]
        assert all(block[k] is True for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls",
                                              "restrictPublicBuckets"))
        assert parts["BucketOwnershipControls"]["rule"]["objectOwnership"] == "BucketOwnerEnforced"
        sse = parts["BucketServerSideEncryptionConfiguration"]["rules"][0]["applyServerSideEncryptionByDefault"]
        assert sse["sseAlgorithm"] in ("AES256", "aws:kms")
        lifecycle = parts["BucketLifecycleConfiguration"]["rules"]
        assert any(r.get("abortIncompleteMultipartUpload", {}).get("daysAfterInitiation") == 1 for r in lifecycle)
        policy = statements(parts["BucketPolicy"]["policy"])
        deny = [s for s in policy if s["Effect"] == "Deny"]
        assert deny and deny[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        assert deny[0]["Action"] == "s3:*" and deny[0]["Principal"] == "*"
        assert not [s for s in policy if s["Effect"] == "Allow" and s["Principal"] == "*"]
        assert bucket.inputs["bucketPrefix"].startswith(f"keel-{stack.stack}-")


def test_registry_is_immutable_scanned_and_pruned(stack):
    (repo,) = stack.by_type("aws:ecr/repository:Repository")
    assert repo.inputs["imageTagMutability"] == "IMMUTABLE"
    assert repo.inputs["imageScanningConfiguration"]["scanOnPush"] is True
    (lifecycle,) = stack.by_type("aws:ecr/lifecyclePolicy:LifecyclePolicy")
    assert lifecycle.inputs["repository"] == repo.inputs["name"]


def test_load_balancer_serves_tls13_and_only_redirects_http(stack):
    (lb,) = stack.by_type("aws:lb/loadBalancer:LoadBalancer")
    assert lb.inputs["dropInvalidHeaderFields"] is True and lb.inputs["internal"] is False
    listeners = {r.inputs["port"]: r.inputs for r in stack.by_type("aws:lb/listener:Listener")}
    (tg,) = stack.by_type("aws:lb/targetGroup:TargetGroup")
    if stack.stack == "dev":
        assert set(listeners) == {80}
        assert listeners[80]["defaultActions"] == [{"type": "forward", "targetGroupArn": tg.arn}]
        return
    assert set(listeners) == {80, 443}
    https = listeners[443]
    assert https["protocol"] == "HTTPS" and https["sslPolicy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    assert https["certificateArn"].startswith("arn:aws:acm:")
    (action,) = listeners[80]["defaultActions"]
    assert action["type"] == "redirect" and action["redirect"]["protocol"] == "HTTPS"
    assert action["redirect"]["statusCode"] == "HTTP_301"


def test_target_group_probes_healthz_quickly(stack):
    (tg,) = stack.by_type("aws:lb/targetGroup:TargetGroup")
    check = tg.inputs["healthCheck"]
    assert check["path"] == "/healthz" and check["matcher"] == "200"
    assert check["healthyThreshold"] == 2 and check["interval"] <= 15
    assert tg.inputs["deregistrationDelay"] <= 30 and tg.inputs["targetType"] == "ip"
    assert tg.inputs["port"] == 8000


def test_services_deploy_safely(stack):
    services = {r.inputs["name"].rsplit("-", 1)[1]: r.inputs for r in stack.by_type("aws:ecs/service:Service")}
    for name, service in services.items():
        assert service["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}, name
        assert service["platformVersion"] == "LATEST"
        assert service.get("launchType") == "FARGATE" or [s["capacityProvider"] for s in
                                                           service["capacityProviderStrategies"]] == \
            ["FARGATE", "FARGATE_SPOT"]
    assert (services["beat"]["desiredCount"], services["beat"]["deploymentMinimumHealthyPercent"],
            services["beat"]["deploymentMaximumPercent"]) == (1, 0, 100)
    for name in ("web", "worker"):
        assert (services[name]["deploymentMinimumHealthyPercent"], services[name]["deploymentMaximumPercent"]) == \
            (100, 200)
    assert services["web"]["healthCheckGracePeriodSeconds"] == 60
    assert services["web"]["loadBalancers"][0]["containerName"] == "web"
    scaled = {r.inputs["resourceId"] for r in stack.by_type("aws:appautoscaling/target:Target")}
    assert not any(resource.endswith("-beat") for resource in scaled)


def test_cluster_has_container_insights(stack):
    (cluster,) = stack.by_type("aws:ecs/cluster:Cluster")
    assert {"name": "containerInsights", "value": "enabled"} in cluster.inputs["settings"]


def test_log_groups_keep_logs_for_a_stated_time(stack):
    for group in stack.by_type("aws:cloudwatch/logGroup:LogGroup"):
        assert group.inputs["retentionInDays"] in LOG_RETENTION_DAYS


def test_iam_is_least_privilege(stack):
    for policy in stack.by_type("aws:iam/rolePolicy:RolePolicy"):
        for statement in statements(policy.inputs["policy"]):
            actions = as_list(statement["Action"])
            assert "*" not in actions and not any(a.endswith(":*") for a in actions), policy.name
            if actions == ["cloudwatch:PutMetricData"]:  # unscopable: limited to the stack's namespace instead
                assert statement["Condition"] == {"StringEquals": {"cloudwatch:namespace": f"keel/{stack.stack}"}}
                continue
            if "*" in as_list(statement["Resource"]):
                assert set(actions) <= {"ecr:GetAuthorizationToken", "ssmmessages:CreateControlChannel",
                                        "ssmmessages:CreateDataChannel", "ssmmessages:OpenControlChannel",
                                        "ssmmessages:OpenDataChannel", "logs:DescribeLogGroups"}, actions
    for role in stack.by_type("aws:iam/role:Role"):
        (trust,) = statements(role.inputs["assumeRolePolicy"])
        assert list(trust["Principal"]) == ["Service"] and trust["Condition"]["StringEquals"]["aws:SourceAccount"]


def test_task_role_touches_only_the_media_bucket(stack):
    (policy,) = [r for r in stack.by_type("aws:iam/rolePolicy:RolePolicy") if r.name == "roles-task"]
    media = next(b for b in stack.by_type("aws:s3/bucket:Bucket") if "-media-" in b.inputs["bucketPrefix"])
    for statement in statements(policy.inputs["policy"]):
        if any(a.startswith("s3:") for a in as_list(statement["Action"])):
            assert set(as_list(statement["Resource"])) <= {media.arn, f"{media.arn}/*"}
    execution = next(r for r in stack.by_type("aws:iam/rolePolicy:RolePolicy") if r.name == "roles-execution")
    assert "ssmmessages" not in execution.inputs["policy"] and "s3:" not in execution.inputs["policy"]


def test_exec_permissions_only_where_exec_is_on(stack):
    exec_on = stack.outputs["execEnabled"]
    task = next(r for r in stack.by_type("aws:iam/rolePolicy:RolePolicy") if r.name == "roles-task")
    assert ("ssmmessages:OpenDataChannel" in task.inputs["policy"]) is exec_on
    assert all(s.inputs["enableExecuteCommand"] is exec_on for s in stack.by_type("aws:ecs/service:Service"))
    exec_groups = [g.arn for g in stack.by_type("aws:cloudwatch/logGroup:LogGroup") if g.inputs["name"].endswith("/exec")]
    assert bool(exec_groups) is exec_on
    if exec_on:
        audit = [s for s in statements(task.inputs["policy"]) if "logs:PutLogEvents" in as_list(s["Action"])]
        assert [s["Resource"] for s in audit] == [f"{exec_groups[0]}:*"]


def test_secrets_are_described(stack):
    for secret in stack.by_type("aws:secretsmanager/secret:Secret"):
        assert secret.inputs["description"].strip()
        assert secret.inputs["namePrefix"].startswith(f"keel/{stack.stack}/")
    for version in stack.by_type("aws:secretsmanager/secretVersion:SecretVersion"):
        assert "4dabf18193072939515e22adb298388d" in version.inputs["secretString"]


def test_web_waits_for_the_listener_that_forwards_to_its_target_group(stack):
    """ECS rejects a service whose target group no listener uses yet."""
    web = next(r for r in stack.by_type("aws:ecs/service:Service") if r.inputs["name"].endswith("-web"))
    forwarding = [r.name for r in stack.by_type("aws:lb/listener:Listener")
                  if r.inputs["defaultActions"][0]["type"] == "forward"]
    assert forwarding and set(forwarding) <= web.depends_on


def test_access_logs_are_delivered_in_new_regions_too():
    """Regions opened after August 2022 have no ELB log account: the service principal must be enough."""
    from keel.evaluate import evaluate_stack

    ev = evaluate_stack("prod", overrides={"aws:region": "ap-southeast-5"})
    logs = next(b for b in ev.by_type("aws:s3/bucket:Bucket") if "-logs-" in b.inputs["bucketPrefix"])
    policy = next(p for p in ev.by_type("aws:s3/bucketPolicy:BucketPolicy") if p.inputs["bucket"] == logs.id)
    principals = [s["Principal"] for s in statements(policy.inputs["policy"]) if s["Sid"].startswith("AlbAccessLogs")]
    assert principals == [{"Service": "logdelivery.elasticloadbalancing.amazonaws.com"}]
