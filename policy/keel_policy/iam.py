"""IAM rules (IAM-01..IAM-08) on roles, inline and managed policies and their attachments.

Each finding about a statement is reported by one rule only: the broadest problem wins
(admin > service wildcard > escalation / kms:Decrypt on * > unscoped resource).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from keel_policy.documents import Statement, statements
from keel_policy.model import Finding, Resource, Stack, as_list
from keel_policy.registry import ALL, CRITICAL, HIGH, MEDIUM, Context, stack_rule

ROLE = "iam:Role"
POLICY_KINDS = ("iam:Policy", "iam:RolePolicy", ROLE)
ATTACHMENT_KINDS = ("iam:RolePolicyAttachment", "iam:PolicyAttachment")
FORBIDDEN_MANAGED = ("AdministratorAccess", "IAMFullAccess")
# Actions AWS does not let you scope to a resource: Resource "*" is the only option.
UNSCOPABLE = {
    "ecr:GetAuthorizationToken", "ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel", "cloudwatch:PutMetricData",
    "xray:PutTraceSegments", "xray:PutTelemetryRecords", "sts:GetCallerIdentity", "logs:DescribeLogGroups",
}
# Privilege escalation, credential exposure, data exfiltration and permissions management when granted on "*"
# (Checkov CKV_AWS_286..290 / CKV_AWS_107..111).
ESCALATION = {
    "iam:PassRole", "iam:CreatePolicyVersion", "iam:SetDefaultPolicyVersion", "iam:AttachRolePolicy",
    "iam:AttachUserPolicy", "iam:AttachGroupPolicy", "iam:PutRolePolicy", "iam:PutUserPolicy", "iam:PutGroupPolicy",
    "iam:CreateAccessKey", "iam:UpdateAccessKey", "iam:CreateLoginProfile", "iam:UpdateLoginProfile",
    "iam:UpdateAssumeRolePolicy", "iam:AddUserToGroup", "iam:CreateRole", "iam:CreatePolicy", "iam:DeleteRolePolicy",
    "sts:AssumeRole", "sts:GetFederationToken", "lambda:CreateFunction", "lambda:UpdateFunctionCode",
    "secretsmanager:GetSecretValue", "ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath",
    "s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:PutBucketPolicy", "kms:CreateGrant",
    "ec2:CreateKeyPair", "ecs:RunTask", "ecs:RegisterTaskDefinition",
}
EXECUTION_ACTIONS = {
    "secretsmanager:GetSecretValue", "ssm:GetParameters", "ssm:GetParameter", "kms:Decrypt",
    "ecr:GetAuthorizationToken", "ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage",
    "logs:CreateLogStream", "logs:PutLogEvents",
}
EXECUTION_MANAGED = ("AmazonECSTaskExecutionRolePolicy",)
RDS_MANAGED_SECRET = re.compile(r"^arn:aws[a-z-]*:secretsmanager:[^:]+:\d{12}:secret:rds!")


def documents(stack: Stack) -> Iterator[tuple[Resource, list[Statement]]]:
    """Every permissions policy in the stack, with the resource that declares it."""
    for resource in stack.of(*POLICY_KINDS):
        if resource.kind == ROLE:
            for inline in as_list(resource.props.get("inlinePolicies")):
                yield resource, statements(inline.get("policy"))
        else:
            yield resource, statements(resource.props.get("policy"))


def _allows(stack: Stack) -> Iterator[tuple[Resource, Statement]]:
    for owner, sts in documents(stack):
        for st in sts:
            if st.effect == "Allow":
                yield owner, st


def _is_admin(st: Statement) -> bool:
    return "*" in st.resources and (st.not_actions or any(a in ("*", "*:*") for a in st.actions))


def _service_wildcards(st: Statement) -> list[str]:
    return [a for a in st.actions if a == "*" or a.endswith(":*")]


@stack_rule("IAM-01", "No policy allows Action * on Resource *; AdministratorAccess and IAMFullAccess are never "
            "attached", "FSBP IAM.1; CKV_AWS_62, CKV_AWS_1, CKV_AWS_274, CKV_AWS_275, CKV2_AWS_56", ALL, CRITICAL,
            POLICY_KINDS + ATTACHMENT_KINDS)
def no_admin(stack: Stack, ctx: Context):
    for owner, st in _allows(stack):
        if _is_admin(st):
            yield Finding("a statement allows every action on every resource", owner)
    for owner in stack.of(ROLE, *ATTACHMENT_KINDS):
        arns = as_list(owner.props.get("managedPolicyArns")) + as_list(owner.props.get("policyArn"))
        for arn in arns:
            if str(arn).rsplit("/", 1)[-1] in FORBIDDEN_MANAGED:
                yield Finding(f"attaches {arn}", owner)


@stack_rule("IAM-02", "No service-wide wildcard actions (s3:*, iam:*, secretsmanager:*...)",
            "FSBP IAM.21; CKV_AWS_63, CKV_AWS_49, CKV2_AWS_40", ALL, HIGH, POLICY_KINDS)
def no_service_wildcards(stack: Stack, ctx: Context):
    for owner, st in _allows(stack):
        if not _is_admin(st) and _service_wildcards(st):
            yield Finding(f"allows {_service_wildcards(st)}; list the actions the app needs", owner)


@stack_rule("IAM-03", "Resource * only for actions that cannot be scoped (e.g. ecr:GetAuthorizationToken)",
            "CKV_AWS_355, CKV_AWS_356", ALL, MEDIUM, POLICY_KINDS)
def scoped_resources(stack: Stack, ctx: Context):
    for owner, st in _allows(stack):
        if "*" not in st.resources or _is_admin(st) or _service_wildcards(st):
            continue
        loose = [a for a in st.actions if a not in UNSCOPABLE | ESCALATION and not a.startswith("kms:Decrypt")]
        if loose:
            yield Finding(f"allows {loose} on Resource *; name the resources", owner)


@stack_rule("IAM-04", "No privilege escalation, credential exposure, exfiltration or permissions management on "
            "Resource * (iam:PassRole, iam:Put*Policy, secretsmanager:GetSecretValue, s3:GetObject...)",
            "CKV_AWS_286, CKV_AWS_287, CKV_AWS_288, CKV_AWS_289, CKV_AWS_290 (CKV_AWS_107..111)", ALL, CRITICAL,
            POLICY_KINDS)
def no_escalation(stack: Stack, ctx: Context):
    for owner, st in _allows(stack):
        if "*" in st.resources and not _is_admin(st) and not _service_wildcards(st):
            risky = sorted(set(st.actions) & ESCALATION)
            if risky:
                yield Finding(f"allows {risky} on Resource *", owner)


def task_roles(stack: Stack, prop: str) -> list[Resource]:
    """The roles task definitions use as ``prop`` (executionRoleArn or taskRoleArn)."""
    found = []
    for task in stack.of("ecs:TaskDefinition"):
        for role in stack.referenced(task, prop, task.props.get(prop), ROLE):
            if role not in found:
                found.append(role)
    return found


@stack_rule("IAM-05", "Trust policies never trust Principal *; ECS task and execution roles trust only "
            "ecs-tasks.amazonaws.com", "CKV_AWS_60, CKV_AWS_61", ALL, CRITICAL, (ROLE,))
def trust(stack: Stack, ctx: Context):
    ecs_roles = task_roles(stack, "executionRoleArn") + task_roles(stack, "taskRoleArn")
    for role in stack.of(ROLE):
        for st in statements(role.props.get("assumeRolePolicy")):
            if st.effect != "Allow":
                continue
            if st.any_principal:
                yield Finding("the trust policy trusts Principal *", role)
            elif role in ecs_roles and set(st.principals) != {"Service:ecs-tasks.amazonaws.com"}:
                yield Finding(f"an ECS role trusts {list(st.principals)}; trust only ecs-tasks.amazonaws.com", role)


@stack_rule("IAM-06", "No kms:Decrypt on Resource *", "FSBP KMS.1, KMS.2", ALL, HIGH, POLICY_KINDS)
def no_decrypt_everything(stack: Stack, ctx: Context):
    for owner, st in _allows(stack):
        if "*" in st.resources and not _is_admin(st) and not _service_wildcards(st) and any(
                a.startswith("kms:Decrypt") for a in st.actions):
            yield Finding("allows kms:Decrypt on Resource *; name the stack's key", owner)


def role_statements(stack: Stack, role: Resource) -> Iterator[tuple[Resource, Statement]]:
    """The Allow statements granted to ``role`` by its inline policies, RolePolicies and attached Policies."""
    for inline in as_list(role.props.get("inlinePolicies")):
        for st in statements(inline.get("policy")):
            yield role, st
    for owner in stack.pointing_at(role, "role", "iam:RolePolicy"):
        for st in statements(owner.props.get("policy")):
            yield owner, st
    attachments = stack.pointing_at(role, "role", "iam:RolePolicyAttachment") + stack.pointing_at(
        role, "roles", "iam:PolicyAttachment")
    for attachment in attachments:
        for policy in stack.referenced(attachment, "policyArn", attachment.props.get("policyArn"), "iam:Policy"):
            for st in statements(policy.props.get("policy")):
                yield policy, st


def managed_arns(stack: Stack, role: Resource) -> list[str]:
    """AWS-managed policy ARNs attached to ``role`` (not policies created by this stack)."""
    attachments = stack.pointing_at(role, "role", "iam:RolePolicyAttachment") + stack.pointing_at(
        role, "roles", "iam:PolicyAttachment")
    arns = [str(a) for a in as_list(role.props.get("managedPolicyArns"))]
    arns += [str(a.props.get("policyArn")) for a in attachments
             if not stack.referenced(a, "policyArn", a.props.get("policyArn"), "iam:Policy")]
    return [a for a in arns if ":aws:policy/" in a]


def _stack_arns(stack: Stack, *kinds: str) -> set[str]:
    return set().union(*(r.identities() for r in stack.of(*kinds))) if stack.of(*kinds) else set()


def _names_stack_resource(resource: str, known: set[str]) -> bool:
    """Whether an IAM Resource names something this stack creates: its ARN, a path under it (bucket/*),
    or the ARN with a wildcard suffix (Secrets Manager's random six characters)."""
    arns = [k for k in known if k.startswith("arn:")]
    if resource in arns or any(resource.startswith(k + "/") for k in arns):
        return True
    stem = resource[:-1] if resource.endswith("*") else None
    return bool(stem) and "*" not in stem and stem[-1] not in ":/" and any(k.startswith(stem) for k in arns)


@stack_rule("IAM-07", "Least privilege per role: the execution role reads only this stack's secrets, parameters and "
            "key; the task role touches only this stack's buckets and ECS Exec channels",
            "least privilege (intent of FSBP IAM.21)", ALL, HIGH, (ROLE,))
def least_privilege(stack: Stack, ctx: Context):
    secrets = _stack_arns(stack, "secretsmanager:Secret", "ssm:Parameter", "kms:Key")
    buckets = _stack_arns(stack, "s3:Bucket")
    keys = _stack_arns(stack, "kms:Key")
    identities = _stack_arns(stack, "sesv2:EmailIdentity", "ses:DomainIdentity")
    for role in task_roles(stack, "executionRoleArn"):
        yield from _execution_findings(stack, role, secrets)
    for role in task_roles(stack, "taskRoleArn"):
        if role not in task_roles(stack, "executionRoleArn"):  # one role for both is ECS-10's finding
            yield from _task_findings(stack, role, buckets, keys, identities)


def _execution_findings(stack: Stack, role: Resource, secrets: set[str]):
    for arn in managed_arns(stack, role):
        if arn.rsplit("/", 1)[-1] not in EXECUTION_MANAGED:
            yield Finding(f"execution role {role.name} has managed policy {arn}", role)
    for owner, st in role_statements(stack, role):
        if st.effect != "Allow" or _is_admin(st) or _service_wildcards(st):
            continue  # IAM-01 / IAM-02 report those
        extra = [a for a in st.actions if a not in EXECUTION_ACTIONS]
        if extra:
            yield Finding(f"execution role {role.name} is allowed {extra}", owner)
        reads = [a for a in st.actions if a.split(":")[0] in ("secretsmanager", "ssm", "kms")]
        foreign = [r for r in st.resources if not (_names_stack_resource(r, secrets) or RDS_MANAGED_SECRET.match(r))]
        if reads and foreign:
            yield Finding(f"execution role {role.name} reads {foreign}, not this stack's secrets", owner)


# What an app needs of the stack's key to read and write objects in an SSE-KMS bucket.
BUCKET_KEY_ACTIONS = {"kms:Decrypt", "kms:GenerateDataKey", "kms:GenerateDataKey*"}
# Sending mail through SES's API (v1 SendRawEmail/SendEmail, v2 SendEmail): scoped to an identity ARN.
SES_SEND_ACTIONS = {"ses:SendEmail", "ses:SendRawEmail"}


def _task_findings(stack: Stack, role: Resource, buckets: set[str], keys: set[str], identities: set[str] = frozenset()):
    for arn in managed_arns(stack, role):
        yield Finding(f"task role {role.name} has managed policy {arn}", role)
    for owner, st in role_statements(stack, role):
        if st.effect != "Allow" or _is_admin(st) or _service_wildcards(st):
            continue  # IAM-01 / IAM-02 report those
        for action in st.actions:
            service = action.split(":")[0]
            if action in BUCKET_KEY_ACTIONS and all(_names_stack_resource(r, keys) for r in st.resources):
                continue  # SSE-KMS media bucket: the app encrypts and decrypts objects with the stack's key
            if action in SES_SEND_ACTIONS and st.resources and all(r in identities for r in st.resources):
                continue  # keel:email ses: the app sends from this stack's own SES identity, nothing else
            if action == "secretsmanager:GetSecretValue" and all(RDS_MANAGED_SECRET.match(r) for r in st.resources):
                # RDS rotates its managed master secret; the app re-reads the password there when it connects
                # (DATABASE_SECRET_ARN), which ECS's start-time injection cannot do. Only RDS-managed secrets.
                continue
            if service in ("secretsmanager", "ssm", "kms", "iam", "sts"):
                yield Finding(f"task role {role.name} is allowed {action}; secrets reach the app through the "
                              "execution role", owner)
            elif service == "s3":
                foreign = [r for r in st.resources if not _names_stack_resource(r, buckets)]
                if foreign:
                    yield Finding(f"task role {role.name} may {action} on {foreign}, not this stack's buckets", owner)
                    break
            elif service not in ("ssmmessages", "logs", "cloudwatch", "xray"):
                yield Finding(f"task role {role.name} is allowed {action}", owner)


@stack_rule("IAM-08", "A role with managedPolicyArns or inlinePolicies is not also targeted by RolePolicy or "
            "attachment resources", "AWSGuard iam-role-no-policy-management-conflicts", ALL, MEDIUM, (ROLE,))
def no_policy_conflicts(stack: Stack, ctx: Context):
    for role in stack.of(ROLE):
        inline = [k for k in ("managedPolicyArns", "inlinePolicies") if k in role.props]
        others = stack.pointing_at(role, "role", "iam:RolePolicy", "iam:RolePolicyAttachment") + stack.pointing_at(
            role, "roles", "iam:PolicyAttachment")
        if inline and others:
            yield Finding(f"{'/'.join(inline)} and {', '.join(o.name for o in others)} both manage this role's "
                          "policies; they overwrite each other", role)

