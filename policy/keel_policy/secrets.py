"""Secrets Manager and SSM Parameter Store rules (SEC-01..SEC-04)."""

from __future__ import annotations

import re

from keel_policy.model import Finding, Resource, Stack, is_true, number
from keel_policy.registry import ALL, HIGH, LOW, MEDIUM, PROD, Context, resource_rule, stack_rule

SECRET, PARAMETER = "secretsmanager:Secret", "ssm:Parameter"
SECRET_NAME = re.compile(r"secret|password|passwd|token|credential|private.?key|api.?key|database.?url|redis.?url|"
                         r"broker.?url", re.IGNORECASE)
MAX_ROTATION_DAYS = 90


def _customer_key(key) -> bool:
    return bool(key) and not str(key).startswith("alias/aws/")


@resource_rule("SEC-01", "Secrets are encrypted with a customer-managed KMS key (kmsKeyId, not alias/aws/...)",
               "CKV_AWS_149; PCP aws-secretsmanager-secret-configure-customer-managed-key", PROD, MEDIUM, (SECRET,))
def customer_key(secret: Resource, ctx: Context):
    if not _customer_key(secret.props.get("kmsKeyId")):
        yield Finding("no customer-managed kmsKeyId")


@stack_rule("SEC-02", "Database credentials rotate at least every 90 days (RDS-managed rotation, or SecretRotation "
            "of 90 days or less)", "FSBP SecretsManager.1, SecretsManager.4; CKV2_AWS_57, CKV_AWS_304 "
            "(exception DJANGO-SECRET-KEY-ROTATION)", PROD, HIGH, ("rds:Instance", "secretsmanager:SecretRotation"))
def rotation(stack: Stack, ctx: Context):
    for db in stack.of("rds:Instance"):
        if not is_true(db.props.get("manageMasterUserPassword")) and not stack.of(
                "secretsmanager:SecretRotation"):
            yield Finding("the master password is neither RDS-managed nor rotated by a SecretRotation", db)
    for rotation_ in stack.of("secretsmanager:SecretRotation"):
        rules = rotation_.props.get("rotationRules") or {}
        days = number(rules.get("automaticallyAfterDays"))
        if not rules.get("scheduleExpression") and (days is None or days > MAX_ROTATION_DAYS):
            yield Finding(f"rotates every {days if days is None else f'{days:g}'} days; at most "
                          f"{MAX_ROTATION_DAYS}", rotation_)


def _holds_secret(parameter: Resource) -> bool:
    return bool(SECRET_NAME.search(str(parameter.props.get("name") or parameter.name)))


@resource_rule("SEC-03", "SSM parameters holding secrets are SecureString", "CKV2_AWS_34", ALL, HIGH, (PARAMETER,))
def secure_parameters(parameter: Resource, ctx: Context):
    if _holds_secret(parameter) and parameter.props.get("type") != "SecureString":
        yield Finding(f"type is {parameter.props.get('type')!r}; a secret must be SecureString")


@resource_rule("SEC-03-PROD", "Prod SecureString parameters use a customer-managed keyId", "CKV_AWS_337", PROD, MEDIUM,
               (PARAMETER,))
def parameter_key(parameter: Resource, ctx: Context):
    if parameter.props.get("type") == "SecureString" and not _customer_key(parameter.props.get("keyId")):
        yield Finding("SecureString without a customer-managed keyId")


@resource_rule("SEC-04", "Secrets have a description", "PCP aws-secretsmanager-secret-missing-description", ALL, LOW,
               (SECRET,))
def described(secret: Resource, ctx: Context):
    if not str(secret.props.get("description") or "").strip():
        yield Finding("the secret has no description")


@resource_rule("SEC-04-PROD", "Prod secrets keep a recovery window (recoveryWindowInDays not 0)",
               "reliability: a deleted secret can be restored", PROD, MEDIUM, (SECRET,))
def recovery_window(secret: Resource, ctx: Context):
    if number(secret.props.get("recoveryWindowInDays")) == 0:
        yield Finding("recoveryWindowInDays is 0: deletion is immediate and unrecoverable")
