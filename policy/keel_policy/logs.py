"""CloudWatch Logs rules (LOG-01..LOG-03)."""

from __future__ import annotations

from keel_policy.model import Finding, Resource, number
from keel_policy.registry import ALL, LOW, MEDIUM, OPT, PROD, Context, resource_rule

LOG_GROUP = "cloudwatch:LogGroup"


@resource_rule("LOG-01", "Every log group sets retentionInDays", "CKV_AWS_66", ALL, LOW, (LOG_GROUP,))
def retention_set(group: Resource, ctx: Context):
    if number(group.props.get("retentionInDays")) is None:
        yield Finding("retentionInDays is not set")


@resource_rule("LOG-02", "Prod log groups keep logs 365 days or more (0 = never expire; unset is LOG-01's finding)",
               "CloudWatch.16 (NIST); CKV_AWS_338", PROD, MEDIUM, (LOG_GROUP,))
def retention_year(group: Resource, ctx: Context):
    days = number(group.props.get("retentionInDays"))
    if days is not None and 0 < days < 365:
        yield Finding(f"retentionInDays is {days:g}; keep at least 365")


@resource_rule("LOG-03", "Log groups are encrypted with a KMS key (kmsKeyId)", "CKV_AWS_158", OPT, LOW, (LOG_GROUP,))
def encrypted(group: Resource, ctx: Context):
    if not group.props.get("kmsKeyId"):
        yield Finding("no kmsKeyId")
