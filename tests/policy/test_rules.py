"""Every rule: the compliant fixture passes it, and one mutation of one property makes exactly that
rule fire (Pulumi's policy repositories' happy-path + mutation pattern)."""

from __future__ import annotations

import json

import pytest
from keel_policy.engine import evaluate, rules
from keel_policy.model import Stack
from keel_policy.registry import Context

from tests.policy.fixtures import (
    ACCOUNT,
    EXEC_ROLE_ARN,
    LB_ARN,
    TG_ARN,
    add,
    compliant_stack,
    drop_prop,
    ingress,
    remove,
    res,
    set_container,
    set_policy,
    set_prop,
)

PROD = Context("prod")
ALLOW_ALL = {"Effect": "Allow", "Action": "*", "Resource": "*"}

# (rule that must fire, what the mutation does, the mutation)
MUTATIONS = [
    ("NET-01", "default SG keeps an ingress rule", set_prop("default-sg", "ingress",
                                                            [{"protocol": "-1", "fromPort": 0.0, "toPort": 0.0,
                                                              "self": True}])),
    ("NET-01", "VPC's default SG not adopted", remove("default-sg")),
    ("NET-02", "flow log only records ACCEPT", set_prop("flow-log", "trafficType", "ACCEPT")),
    ("NET-03", "a subnet maps public IPs", set_prop("public-a", "mapPublicIpOnLaunch", True)),
    ("NET-04", "task SG open to the world on 8000", set_prop("task-from-alb", "cidrIpv4", "0.0.0.0/0")),
    ("NET-04", "ALB admits the world on 8443", set_prop("alb-https", "fromPort", 8443.0)),
    ("NET-05", "ALB rule widened to all ports", set_prop("alb-https", "ipProtocol", "-1")),
    ("NET-05", "SSH open to the world", add(ingress("ssh", "sg-task", 22, "ssh", cidrIpv4="0.0.0.0/0"))),
    ("NET-06", "task SG admits the VPC CIDR", add(ingress("vpc-to-task", "sg-task", 8000, "vpc",
                                                          cidrIpv4="10.0.0.0/16"))),
    ("NET-06", "database admits the load balancer", set_prop("db-from-tasks", "referencedSecurityGroupId", "sg-alb")),
    ("NET-06", "redis port range widened", set_prop("cache-from-tasks", "toPort", 6400.0)),
    ("NET-07", "SG without description", drop_prop("db-sg", "description")),
    ("NET-07", "rule without description", set_prop("task-db", "description", "")),
    ("NET-08", "inline ingress on a SG that has rule resources", set_prop("db-sg", "ingress", [])),
    ("NET-09", "orphan security group", add(res("aws:ec2/securityGroup:SecurityGroup", "spare-sg", "sg-spare",
                                                vpcId="vpc-1", description="unused"))),
    ("NET-10", "all-traffic egress to the world", set_prop("task-https", "ipProtocol", "-1")),
    ("NET-11", "no ECR API endpoint", remove("endpoint-ecr.api")),
    ("ALB-01", "another HTTP listener forwards instead of redirecting",
     add(res("aws:lb/listener:Listener", "http-8080", "keel-http-8080", f"{LB_ARN}/http8080", loadBalancerArn=LB_ARN,
             protocol="HTTP", port=8080.0, defaultActions=[{"type": "forward", "targetGroupArn": "arn:other-tg"}]))),
    ("ALB-02", "HTTPS listener without a certificate", drop_prop("https", "certificateArn")),
    ("ALB-03", "legacy TLS policy", set_prop("https", "sslPolicy", "ELBSecurityPolicy-2016-08")),
    ("ALB-04", "invalid headers forwarded", drop_prop("alb", "dropInvalidHeaderFields")),
    ("ALB-05", "desync mitigation monitor", set_prop("alb", "desyncMitigationMode", "monitor")),
    ("ALB-06", "access logs off", set_prop("alb", "accessLogs.enabled", False)),
    ("ALB-07", "deletion protection off", set_prop("alb", "enableDeletionProtection", False)),
    ("ALB-08", "load balancer in one subnet", set_prop("alb", "subnets", ["subnet-public-a"])),
    ("ALB-09", "no WAF", remove("waf")),
    ("ALB-10", "target group without health-check path", drop_prop("web-tg", "healthCheck.path")),
    ("ALB-11", "a rule on the HTTP listener forwards to the HTTP target group",
     add(res("aws:lb/listenerRule:ListenerRule", "http-api", listenerArn=f"{LB_ARN}/http", priority=10.0,
             conditions=[{"pathPattern": {"values": ["/api/*"]}}],
             actions=[{"type": "forward", "targetGroupArn": TG_ARN}]))),
    ("RDS-01", "unencrypted storage", drop_prop("db", "storageEncrypted")),
    ("RDS-02", "publicly accessible", set_prop("db", "publiclyAccessible", True)),
    ("RDS-02", "subnet group with a public subnet", set_prop("db-subnets", "subnetIds.0", "subnet-public-a")),
    ("RDS-03", "single AZ", set_prop("db", "multiAz", False)),
    ("RDS-04", "backups beyond 35 days", set_prop("db", "backupRetentionPeriod", 40.0)),
    ("RDS-04-PROD", "3 days of backups in prod", set_prop("db", "backupRetentionPeriod", 3.0)),
    ("RDS-05", "no deletion protection", set_prop("db", "deletionProtection", False)),
    ("RDS-05", "final snapshot skipped", set_prop("db", "skipFinalSnapshot", True)),
    ("RDS-06", "no upgrade log export", set_prop("db", "enabledCloudwatchLogsExports", ["postgresql"])),
    ("RDS-07", "TLS not forced", set_prop("db-params", "parameters.0.value", "0")),
    ("RDS-08", "minor upgrades off", set_prop("db", "autoMinorVersionUpgrade", False)),
    ("RDS-09", "no enhanced monitoring", set_prop("db", "monitoringInterval", 0.0)),
    ("RDS-10", "performance insights off", set_prop("db", "performanceInsightsEnabled", False)),
    ("RDS-11", "tags not copied to snapshots", drop_prop("db", "copyTagsToSnapshot")),
    ("RDS-12", "default master user", set_prop("db", "username", "postgres")),
    ("RDS-13", "plaintext password input", set_prop("db", "password", "hunter2hunter2")),
    ("RDS-14", "old CA", set_prop("db", "caCertIdentifier", "rds-ca-2019")),
    ("RDS-15", "IAM auth off", set_prop("db", "iamDatabaseAuthenticationEnabled", False)),
    ("RDS-16", "default port", drop_prop("db", "port")),
    ("RED-01", "no encryption at rest", set_prop("cache", "atRestEncryptionEnabled", False)),
    ("RED-02", "no TLS", set_prop("cache", "transitEncryptionEnabled", False)),
    ("RED-03", "no auth token", drop_prop("cache", "authToken")),
    ("RED-04", "no failover", set_prop("cache", "automaticFailoverEnabled", False)),
    ("RED-05", "no snapshots", set_prop("cache", "snapshotRetentionLimit", 0.0)),
    ("RED-06", "minor upgrades off", set_prop("cache", "autoMinorVersionUpgrade", "false")),
    ("RED-07", "default subnet group", drop_prop("cache", "subnetGroupName")),
    ("RED-08", "evicting parameter group", set_prop("cache-params", "parameters.0.value", "allkeys-lru")),
    ("RED-09", "AWS-managed key", drop_prop("cache", "kmsKeyId")),
    ("S3-01", "one public-access flag off", set_prop("keel-media-pab", "restrictPublicBuckets", False)),
    ("S3-01", "no public-access block", remove("keel-media-pab")),
    ("S3-02", "ACLs enabled", set_prop("keel-media-ownership", "rule.objectOwnership", "ObjectWriter")),
    ("S3-03", "no TLS-only statement", set_policy("keel-media-policy", {"Effect": "Deny", "Principal": "*",
                                                                        "Action": "s3:DeleteBucket",
                                                                        "Resource": "arn:aws:s3:::keel-media"})),
    ("S3-04", "public read grant", set_policy("keel-media-policy", {
        "Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "arn:aws:s3:::keel-media/*",
        "Condition": {"Bool": {"aws:SecureTransport": "false"}}}, {
        "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::keel-media/*"})),
    ("S3-05", "no default encryption", remove("keel-media-sse")),
    ("S3-05-PROD", "media bucket on SSE-S3", set_prop("keel-media-sse", "rules.0.applyServerSideEncryptionByDefault",
                                                       {"sseAlgorithm": "AES256"})),
    ("S3-06", "versioning suspended", set_prop("keel-logs-versioning", "versioningConfiguration.status", "Suspended")),
    ("S3-07", "no multipart abort", drop_prop("keel-logs-lifecycle", "rules.0.abortIncompleteMultipartUpload")),
    ("S3-08", "media bucket not logged", remove("keel-media-logging")),
    ("ECR-01", "mutable tags", set_prop("repo", "imageTagMutability", "MUTABLE")),
    ("ECR-02", "no scan on push", set_prop("repo", "imageScanningConfiguration.scanOnPush", False)),
    ("ECR-03", "no lifecycle policy", remove("repo-lifecycle")),
    ("ECR-04", "AES256 repository", set_prop("repo", "encryptionConfigurations", [{"encryptionType": "AES256"}])),
    ("ECR-05", "public repository policy", set_policy("repo-policy", {"Effect": "Allow", "Principal": "*",
                                                                      "Action": "ecr:BatchGetImage"})),
    ("ECS-01", "container insights off", set_prop("cluster", "settings.0.value", "disabled")),
    ("ECS-02", "tasks get public IPs", set_prop("worker-service", "networkConfiguration.assignPublicIp", True)),
    ("ECS-02", "tasks in a public subnet", set_prop("beat-service", "networkConfiguration.subnets",
                                                    ["subnet-public-a"])),
    ("ECS-03", "pinned platform version", set_prop("worker-service", "platformVersion", "1.3.0")),
    ("ECS-04", "no log driver", set_container("beat-task", "logConfiguration", None)),
    ("ECS-05", "privileged container", set_container("worker-task", "privileged", True)),
    ("ECS-06", "writable root filesystem", set_container("web-task", "readonlyRootFilesystem", False)),
    ("ECS-06", "no /tmp volume", set_container("release-task", "mountPoints", [])),
    ("ECS-07", "root user", set_container("release-task", "user", "0")),
    ("ECS-08", "bridge networking", set_prop("beat-task", "networkMode", "bridge")),
    ("ECS-09", "secret in environment", set_container("web-task", "environment", [
        {"name": "DJANGO_SECRET_KEY", "value": "x" * 50}])),
    ("ECS-09", "URL with password in environment", set_container("worker-task", "environment", [
        {"name": "CELERY_BROKER_URL", "value": "rediss://:pw@cache:6379/0"}])),
    ("ECS-10", "one role for execution and task", set_prop("worker-task", "taskRoleArn", EXEC_ROLE_ARN)),
    ("ECS-11", "no rollback", set_prop("worker-service", "deploymentCircuitBreaker.rollback", False)),
    ("ECS-12", "two beat schedulers", set_prop("beat-service", "desiredCount", 2.0)),
    ("ECS-13", "web drops below full capacity during deploys",
     set_prop("web-service", "deploymentMinimumHealthyPercent", 50.0)),
    ("ECS-13-PROD", "one web task in prod", set_prop("web-scaling", "minCapacity", 1.0)),
    ("ECS-14", "web stops before gunicorn drains", set_container("web-task", "stopTimeout", 30)),
    ("ECS-14", "worker stop timeout too short", set_container("worker-task", "stopTimeout", 60)),
    ("ECS-15", "ECS Exec without encrypted session logs",
     drop_prop("cluster", "configuration.executeCommandConfiguration.kmsKeyId")),
    ("IAM-01", "admin statement", set_policy("task-media", ALLOW_ALL)),
    ("IAM-01", "AdministratorAccess attached", set_prop("rds-monitoring-managed", "policyArn",
                                                        "arn:aws:iam::aws:policy/AdministratorAccess")),
    ("IAM-02", "service wildcard", set_policy("task-media", {
        "Effect": "Allow", "Action": "cloudwatch:*", "Resource": f"arn:aws:cloudwatch::{ACCOUNT}:dashboard/keel"})),
    ("IAM-03", "scopable action on Resource *", add(res(
        "aws:iam/rolePolicy:RolePolicy", "monitoring-extra", role="keel-rds-monitoring", policy=json.dumps({"Statement": [{"Effect": "Allow", "Action": "logs:PutRetentionPolicy", "Resource": "*"}]})))),
    ("IAM-04", "PassRole on *", add(res(
        "aws:iam/policy:Policy", "deployer", policy=json.dumps(
            {"Statement": [{"Effect": "Allow", "Action": ["iam:PassRole"], "Resource": "*"}]})))),
    ("IAM-05", "ECS role trusts another service", set_policy("task-role", {
        "Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"},
        key="assumeRolePolicy")),
    ("IAM-06", "kms:Decrypt on *", add(res(
        "aws:iam/policy:Policy", "decryptor", policy=json.dumps(
            {"Statement": [{"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}]})))),
    ("IAM-07", "execution role reads a foreign secret", set_policy("exec-secrets", {
        "Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"],
        "Resource": [f"arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:other-app/DATABASE_URL-XyZ123"]})),
    ("IAM-07", "task role writes a foreign bucket", set_policy("task-media", {
        "Effect": "Allow", "Action": ["s3:PutObject"], "Resource": ["arn:aws:s3:::someone-else/*"]})),
    ("IAM-07", "task role sends mail as an identity of another stack", set_policy("task-media", {
        "Effect": "Allow", "Action": ["ses:SendEmail"], "Resource": [f"arn:aws:ses:eu-west-1:{ACCOUNT}:identity/other.com"]})),
    ("IAM-07", "task role uses a foreign key", set_policy("task-media", {
        "Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": [f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/other"]})),
    ("IAM-08", "managed ARNs inline and attached", set_prop("exec-role", "managedPolicyArns", [])),
    ("SEC-01", "secret on the AWS-managed key", set_prop("secret-database_url", "kmsKeyId", "alias/aws/secretsmanager")),
    ("SEC-02", "rotation every 365 days", set_prop("redis-rotation", "rotationRules.automaticallyAfterDays", 365.0)),
    ("SEC-03", "secret parameter as String", set_prop("api-token", "type", "String")),
    ("SEC-03-PROD", "SecureString on the AWS-managed key", drop_prop("api-token", "keyId")),
    ("SEC-04", "secret without description", drop_prop("secret-redis_url", "description")),
    ("SEC-04-PROD", "immediate deletion", set_prop("secret-redis_url", "recoveryWindowInDays", 0.0)),
    ("LOG-01", "no retention", drop_prop("logs-beat", "retentionInDays")),
    ("LOG-02", "30 days of logs in prod", set_prop("logs-web", "retentionInDays", 30.0)),
    ("LOG-03", "unencrypted log group", drop_prop("logs-worker", "kmsKeyId")),
    ("KMS-01", "key rotation off", set_prop("key", "enableKeyRotation", False)),
    ("OPS-01", "metrics in any namespace", set_policy("queue-metrics", {
        "Effect": "Allow", "Action": "cloudwatch:PutMetricData", "Resource": "*"})),
    ("OPS-02", "an alarm nobody hears", set_prop("alarm-5xx", "alarmActions", [])),
    ("OPS-02", "a quiet child no composite uses", set_prop("alarm-cpu-at-max", "alarmRule",
                                                         'ALARM("keel-prod-web-at-max")')),
    ("OPS-03", "alarm topic unencrypted", drop_prop("alarm-topic", "kmsMasterKeyId")),
    ("OPS-04", "beat on Spot", set_prop("beat-service", "capacityProviderStrategies",
                                        [{"capacityProvider": "FARGATE_SPOT", "weight": 1.0}])),
    ("OPS-05", "ARM64 worker on Spot", lambda resources: set_prop(
        "worker-task", "runtimePlatform", {"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"})(
        set_prop("worker-service", "capacityProviderStrategies",
                 [{"capacityProvider": "FARGATE", "base": 1.0, "weight": 1.0},
                  {"capacityProvider": "FARGATE_SPOT", "weight": 3.0}])(resources))),
    ("KMS-01", "key policy trusts everyone", set_policy("key", {"Effect": "Allow", "Principal": "*",
                                                                "Action": "kms:*", "Resource": "*"})),
]


def fired(resources) -> dict[str, list[str]]:
    """{rule: messages} for every finding, including those a documented exception covers."""
    stack = Stack(resources)
    found = {}
    for rule in rules():
        messages = sorted(f"{f.message}|{f.exception}" for f in rule.findings(stack, PROD))
        if messages:
            found[rule.id] = messages
    return found


BASELINE = fired(compliant_stack())


def test_compliant_fixture_violates_nothing():
    # Only the documented log-bucket exception remains: ELB and S3 access logs require SSE-S3.
    assert {rule: [m.split("|")[1] for m in ms] for rule, ms in BASELINE.items()} == {
        "S3-05-PROD": ["LOG-BUCKET-SSE-S3"], "S3-08": ["LOG-BUCKET-SSE-S3"]}
    assert not [r for r in evaluate(compliant_stack(), PROD) if r.status == "FAIL"]


@pytest.mark.parametrize("rule,what,mutate", MUTATIONS, ids=[f"{m[0]}: {m[1]}" for m in MUTATIONS])
def test_one_mutation_fires_exactly_its_rule(rule, what, mutate):
    after = fired(mutate(compliant_stack()))
    changed = {r for r in set(after) | set(BASELINE) if after.get(r) != BASELINE.get(r)}
    assert changed == {rule}, f"{what}: expected only {rule} to change, got {sorted(changed)}: " + str(
        {r: after.get(r) for r in changed})


def test_every_rule_has_a_mutation():
    assert {r.id for r in rules()} - {m[0] for m in MUTATIONS} == set()


def test_mutated_mandatory_rule_fails_the_evaluation():
    results = evaluate(set_prop("db", "storageEncrypted", False)(compliant_stack()), PROD)
    failed = [r for r in results if r.status == "FAIL"]
    assert [(r.rule, r.resource) for r in failed] == [("RDS-01", "db (rds:Instance)")]


def test_prod_rule_is_advisory_outside_prod():
    mutated = set_prop("db", "multiAz", False)(compliant_stack())
    assert [r.status for r in evaluate(mutated, Context("staging")) if r.rule == "RDS-03"] == ["WARN"]
    assert [r.status for r in evaluate(mutated, PROD) if r.rule == "RDS-03"] == ["FAIL"]


def _plain_http(resources):
    """The dev shape without a domain: the HTTP listener forwards, no HTTPS listener exists."""
    resources = remove("https")(resources)
    return set_prop("http", "defaultActions", [{"type": "forward",
                                                "targetGroupArn": "arn:aws:elasticloadbalancing:eu-west-1:"
                                                                  f"{ACCOUNT}:targetgroup/keel-web/1"}])(resources)


def test_dev_without_domain_serves_http_with_warnings_only():
    results = evaluate(_plain_http(compliant_stack()), Context("dev"))
    warned = {r.rule for r in results if r.status == "WARN" and "DEV-PLAIN-HTTP" in r.message}
    assert {"ALB-01", "ALB-02", "ALB-11"} <= warned
    assert not [r for r in results if r.status == "FAIL"]


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_staging_and_prod_must_serve_https(stack):
    results = evaluate(_plain_http(compliant_stack()), Context(stack))
    assert {"ALB-01", "ALB-02", "ALB-11"} <= {r.rule for r in results if r.status == "FAIL"}


def test_port_80_without_redirect_listener_is_a_violation():
    resources = remove("http")(compliant_stack())
    assert "NET-04" in {r.rule for r in evaluate(resources, PROD) if r.status == "FAIL"}


def test_secret_wrapped_inputs_are_unwrapped():
    from keel_policy.model import SECRET_SIG, SECRET_SIG_KEY, unwrap

    wrapped = {SECRET_SIG_KEY: SECRET_SIG, "value": "hunter2"}
    mutated = set_prop("db", "password", wrapped)(compliant_stack())
    db = next(r for r in mutated if r.name == "db")
    assert unwrap(dict(db.props))["password"] == "hunter2"


def test_rules_name_their_sources_scope_and_severity():
    for rule in rules():
        assert rule.sources and rule.id in rule.description and rule.sources in rule.description
        assert rule.severity in ("low", "medium", "high", "critical")



def test_docs_list_every_rule_as_the_code_defines_it():
    from pathlib import Path

    from keel_policy.docs import render

    committed = (Path(__file__).resolve().parents[2] / "docs" / "policy-rules.md").read_text()
    assert committed == render(), "regenerate: python -m keel_policy.docs > docs/policy-rules.md"
    for rule in rules():
        assert f"| {rule.id} | {rule.title} | {rule.sources} | {rule.scope} |" in committed


def test_the_task_role_may_send_mail_from_the_stacks_own_ses_identity_only():
    """keel:email ses: ses:SendEmail/SendRawEmail on the stack's sesv2 EmailIdentity is least privilege."""
    identity_arn = f"arn:aws:ses:eu-west-1:{ACCOUNT}:identity/app.acme.io"
    identity = res("aws:sesv2/emailIdentity:EmailIdentity", "email-identity", "app.acme.io", identity_arn,
                   emailIdentity="app.acme.io")
    send = {"Sid": "SendEmail", "Effect": "Allow", "Action": ["ses:SendEmail", "ses:SendRawEmail"],
            "Resource": identity_arn}
    task_policy = json.loads(next(r for r in compliant_stack() if r.name == "task-media").props["policy"])
    with_mail = set_policy("task-media", *task_policy["Statement"], send)
    assert "IAM-07" not in fired(with_mail([*compliant_stack(), identity]))
    assert "IAM-07" in fired(with_mail(compliant_stack()))  # the same grant without that identity in the stack
