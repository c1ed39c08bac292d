"""IAM roles: the task execution role, the app's task role, and (prod) RDS enhanced monitoring.

Least privilege (IAM-01..08): the execution role reads exactly this stack's secret ARNs, pulls
from its one repository and writes to its log groups; the task role touches only the media
bucket (plus ECS Exec's channels when exec is on), reads the RDS-managed database secret, whose
password RDS rotates and the app re-reads when it connects (DATABASE_SECRET_ARN), and with
``keel:email ses`` sends mail from the stack's SES identity only. Trust is ``ecs-tasks.amazonaws.com`` limited to
this account. Inline policies are separate RolePolicy resources only (no mixing, IAM-08).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from keel.components import PACKAGE, child, named_tags, policy_json

ECR_PULL = ["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"]
EXEC_CHANNELS = ["ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel",
                 "ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel"]
MEDIA_OBJECT_ACTIONS = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
RDS_MONITORING_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"


def trust_policy(service: str, account_id: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"aws:SourceAccount": account_id}}}]})


def execution_policy(secret_arns: list[str], repository_arn: str, log_group_arns: list[str],
                     kms_key_arn: str | None) -> str:
    """Start a task: pull the image, read its secrets, create its log streams. Nothing else."""
    statements = [
        # GetAuthorizationToken cannot be scoped to a resource (IAM-03 exception).
        {"Sid": "EcrAuth", "Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
        {"Sid": "EcrPull", "Effect": "Allow", "Action": ECR_PULL, "Resource": repository_arn},
        {"Sid": "Logs", "Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
         "Resource": [f"{arn}:*" for arn in log_group_arns]},
        {"Sid": "Secrets", "Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
         "Resource": sorted(set(secret_arns))},
    ]
    if kms_key_arn:
        statements.append({"Sid": "DecryptSecrets", "Effect": "Allow", "Action": "kms:Decrypt",
                           "Resource": kms_key_arn})
    return policy_json(statements)


def via_service(service: str, region: str) -> dict:
    """A condition: the key is used only by ``service`` on the caller's behalf, in this region."""
    return {"StringEquals": {"kms:ViaService": f"{service}.{region}.amazonaws.com"}}


def runtime_secret_statements(secret_arns: list[str], kms_key_arn: str | None, region: str) -> list[dict]:
    """Read exactly these secrets at run time, and decrypt them only through Secrets Manager."""
    if not secret_arns:
        return []
    statements = [{"Sid": "RuntimeSecrets", "Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
                   "Resource": sorted(set(secret_arns))}]
    if kms_key_arn:
        statements.append({"Sid": "RuntimeSecretsKms", "Effect": "Allow", "Action": "kms:Decrypt",
                           "Resource": kms_key_arn,
                           "Condition": via_service("secretsmanager", region)})
    return statements


def exec_channel_key_statement(kms_key_arn: str) -> dict:
    """Decrypt the ECS Exec data channel the cluster encrypts with the stack's key.

    The SSM agent in the task calls KMS itself with the task role (AWS, "Monitor Amazon ECS containers
    with ECS Exec", docs.aws.amazon.com/AmazonECS/latest/developerguide/ecs-exec.html: with a
    ``kmsKeyId`` in the cluster's executeCommandConfiguration, the task IAM role needs ``kms:Decrypt``
    on that key). No service makes the call on its behalf, so a kms:ViaService condition would deny
    every session: that key, that one action, no condition.
    """
    return {"Sid": "EcsExecChannelKms", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": kms_key_arn}


# What the app's SES backend calls: SESv2 SendEmail only (app/config/email.py sets django-ses's USE_SES_V2;
# v2 has no SendRawEmail, raw MIME goes through SendEmail). A backend on SES API v1 would also need
# ses:SendRawEmail (AWS CDK's EmailIdentity grant gives both); least privilege gives what ours calls.
SES_SEND = ["ses:SendEmail"]


def task_policy(bucket_arn: str, kms_key_arn: str | None, exec_enabled: bool, exec_log_group_arn: str | None,
                runtime_secret_arns: list[str] = (), region: str = "", email_identity_arn: str | None = None) -> str:
    """What the app itself may do: read and write media objects, read the secrets it re-reads at run
    time (the rotated database password), and ECS Exec when enabled."""
    statements = [
        {"Sid": "MediaList", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": bucket_arn},
        {"Sid": "MediaObjects", "Effect": "Allow", "Action": MEDIA_OBJECT_ACTIONS, "Resource": f"{bucket_arn}/*"},
    ]
    if kms_key_arn:
        # Only through S3: otherwise this grant would let the app decrypt anything under the stack's key.
        statements.append({"Sid": "MediaKms", "Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                           "Resource": kms_key_arn, "Condition": via_service("s3", region)})
    statements += runtime_secret_statements(list(runtime_secret_arns), kms_key_arn, region)
    if email_identity_arn:
        statements.append({"Sid": "SendEmail", "Effect": "Allow", "Action": SES_SEND, "Resource": email_identity_arn})
    if exec_enabled:
        # Session Manager channels have no resource ARN to scope to (IAM-03 exception).
        statements.append({"Sid": "EcsExec", "Effect": "Allow", "Action": EXEC_CHANNELS, "Resource": "*"})
    if exec_enabled and kms_key_arn:
        statements.append(exec_channel_key_statement(kms_key_arn))
    if exec_enabled and exec_log_group_arn:
        # The exec agent in the task writes the session audit log with the task role.
        statements.append({"Sid": "EcsExecAuditLog", "Effect": "Allow",
                           "Action": ["logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"],
                           "Resource": f"{exec_log_group_arn}:*"})
        # It checks the log group exists first; DescribeLogGroups has no resource scope (IAM-03 exception).
        statements.append({"Sid": "EcsExecAuditLogLookup", "Effect": "Allow", "Action": "logs:DescribeLogGroups",
                           "Resource": "*"})
    return policy_json(statements)


@dataclass
class RolesArgs:
    name: str
    account_id: pulumi.Input[str]
    secret_arns: list[pulumi.Input[str]]
    repository_arn: pulumi.Input[str]
    log_group_arns: list[pulumi.Input[str]]
    bucket_arn: pulumi.Input[str]
    exec_enabled: bool
    exec_log_group_arn: pulumi.Input[str] | None = None  # ECS Exec session audit log
    # Secrets the app reads itself at run time (the RDS-managed, rotated master secret); the task role.
    runtime_secret_arns: list[pulumi.Input[str]] = field(default_factory=list)
    region: str = ""  # for the kms:ViaService condition on runtime secrets
    email_identity_arn: pulumi.Input[str] | None = None  # SES identity the app may send from (keel:email ses)
    kms_key_arn: pulumi.Input[str] | None = None
    tags: dict[str, str] = field(default_factory=dict)


class Roles(pulumi.ComponentResource):
    execution_role_arn: pulumi.Output[str]
    task_role_arn: pulumi.Output[str]

    def __init__(self, name: str, args: RolesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{PACKAGE}:iam:Roles", name, None, opts)
        account = pulumi.Output.from_input(args.account_id)
        kms = pulumi.Output.from_input(args.kms_key_arn) if args.kms_key_arn is not None else pulumi.Output.from_input(None)
        execution = self._role("execution", f"{args.name}-execution", "ecs-tasks.amazonaws.com", account, args,
                               "ECS agent: pulls the image, reads this stack's secrets, writes logs")
        self.execution_policy = aws.iam.RolePolicy(f"{name}-execution", role=execution.id, opts=child(self), policy=pulumi.Output.all(
            list(args.secret_arns), args.repository_arn, list(args.log_group_arns), kms).apply(
            lambda v: execution_policy(v[0], v[1], v[2], v[3])))
        task = self._role("task", f"{args.name}-task", "ecs-tasks.amazonaws.com", account, args,
                          "The app (web, worker, beat, release): media bucket objects, its database secret")
        self.task_policy = aws.iam.RolePolicy(f"{name}-task", role=task.id, opts=child(self), policy=pulumi.Output.all(
            args.bucket_arn, kms, args.exec_log_group_arn, list(args.runtime_secret_arns), args.email_identity_arn).apply(
            lambda v: task_policy(v[0], v[1], args.exec_enabled, v[2], v[3], args.region, v[4])))
        self.execution_role_arn = execution.arn
        self.task_role_arn = task.arn
        self.register_outputs({"executionRoleArn": self.execution_role_arn, "taskRoleArn": self.task_role_arn})

    def _role(self, label: str, physical: str, service: str, account: pulumi.Output, args: RolesArgs,
              description: str) -> aws.iam.Role:
        return service_role(f"{self._name}-{label}", physical, service, account, description, args.tags, self)


def service_role(name: str, physical: str, service: str, account: pulumi.Output, description: str,
                 tags: dict[str, str], parent: pulumi.Resource) -> aws.iam.Role:
    """A role only ``service`` may assume, and only on behalf of this account."""
    return aws.iam.Role(name, name=physical, description=description,
                        assume_role_policy=account.apply(lambda a: trust_policy(service, a)),
                        tags=named_tags(tags, physical), opts=child(parent))


class FunctionRole(pulumi.ComponentResource):
    """A Lambda function's role: it may write to its own log group, nothing else."""

    arn: pulumi.Output[str]

    def __init__(self, name: str, physical: str, account_id: pulumi.Input[str], log_group_arn: pulumi.Input[str],
                 tags: dict[str, str], opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{PACKAGE}:iam:FunctionRole", name, None, opts)
        role = service_role(f"{name}-role", physical, "lambda.amazonaws.com", pulumi.Output.from_input(account_id),
                            "A Keel Lambda function writes its own logs", tags, self)
        aws.iam.RolePolicy(f"{name}-logs", role=role.id, policy=pulumi.Output.from_input(log_group_arn).apply(
            lambda arn: json.dumps({"Version": "2012-10-17", "Statement": [{
                "Sid": "Logs", "Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": f"{arn}:*"}]})), opts=child(self))
        self.arn = role.arn
        self.register_outputs({"arn": self.arn})


class RdsMonitoringRole(pulumi.ComponentResource):
    """Lets RDS enhanced monitoring publish OS metrics (RDS-09); AWS's managed policy is scoped for it."""

    arn: pulumi.Output[str]

    def __init__(self, name: str, physical: str, account_id: pulumi.Input[str], tags: dict[str, str],
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{PACKAGE}:iam:RdsMonitoringRole", name, None, opts)
        role = service_role(f"{name}-role", physical, "monitoring.rds.amazonaws.com",
                            pulumi.Output.from_input(account_id), "RDS enhanced monitoring publishes OS metrics",
                            tags, self)
        aws.iam.RolePolicyAttachment(f"{name}-policy", role=role.name, policy_arn=RDS_MONITORING_POLICY,
                                     opts=child(self))
        self.arn = role.arn
        self.register_outputs({"arn": self.arn})
