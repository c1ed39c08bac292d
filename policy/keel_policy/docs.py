"""Render docs/policy-rules.md from the rule registry and the exceptions, so the document cannot drift
from the code: `python -m keel_policy.docs > docs/policy-rules.md` (a test compares the two)."""

from __future__ import annotations

from keel_policy.engine import rules
from keel_policy.exceptions import EXCEPTIONS

GROUPS = (
    ("NET", "Network and security groups"), ("ALB", "Application Load Balancer"), ("RDS", "RDS PostgreSQL"),
    ("RED", "ElastiCache Redis / Valkey"), ("S3", "S3 buckets"), ("ECR", "ECR"),
    ("ECS", "ECS cluster, services and task definitions"), ("IAM", "IAM"), ("SEC", "Secrets Manager and SSM"),
    ("LOG", "CloudWatch Logs"), ("KMS", "KMS"), ("OPS", "Operations: metrics, alarms, Spot"),
)

INTRO = """# Keel policy rules

Every rule Keel's stack must satisfy, with the IDs of the checks security reviewers already use:
AWS Security Hub **FSBP** controls, **Checkov** (`CKV_*`), Pulumi **AWSGuard** and Pulumi's compliance
policies (**PCP**). The rules are Python functions in `policy/keel_policy/`; the same functions run in

* the policy pack: `pulumi preview --stack staging --policy-pack policy` (and `pulumi up`), and
* `keel check --stack NAME [--json]`: offline, against the program run under Pulumi mocks with the
  committed `Pulumi.NAME.yaml`; it prints one row per finding and one per clean rule, and exits 1 when a
  mandatory rule is violated.

This file is generated from the code (`python -m keel_policy.docs > docs/policy-rules.md`); a test fails
when they differ.

## Scope and enforcement

| scope | enforcement |
|---|---|
| **All** | mandatory in every stack |
| **Prod** | mandatory when the stack is prod (named `prod` or `prod-*`, or built from the prod preset `keel:preset: prod`); advisory elsewhere, so `keel check` and previews still show what a stack lacks before it is promoted |
| **Opt** | advisory everywhere (cost or operational trade-offs; some are covered by a documented exception) |

Rules marked *(split)* have a Prod part with its own ID suffix `-PROD` (a stricter threshold in prod).
The pack learns the stack from `PULUMI_STACK` (set by the Pulumi CLI) and the preset from the stack's
config; `KEEL_POLICY_STACK=prod` holds another stack to prod's rules. An organisation can still override any
policy's enforcement level with the usual `--policy-pack-config` file.

How properties are read: inputs are Pulumi's camelCase names; a property that is absent counts as a
violation when it is security-relevant, except where AWS's default is the safe value
(`publiclyAccessible`, `assignPublicIp`, `autoMinorVersionUpgrade`, `desyncMitigationMode`, `platformVersion`).
Each rule implements the real field with the stricter of its sources' thresholds (for example RDS-04 in prod
asks 7 days, as FSBP RDS.11 does, where Checkov accepts 1; ECS-05 checks `privileged`, which CKV_AWS_334
misspells).
"""


def _row(rule) -> str:
    kind = "stack" if not rule.per_resource else "resource"
    return f"| {rule.id} | {rule.title} | {rule.sources} | {rule.scope} | {rule.severity} | {kind} |"


def render() -> str:
    lines = [INTRO, "## Rules", ""]
    all_rules = rules()
    for prefix, title in GROUPS:
        group = [r for r in all_rules if r.id.split("-")[0] == prefix]
        lines += [f"### {title}", "", "| ID | what must hold | sources | scope | severity | checked per |",
                  "|---|---|---|---|---|---|", *(_row(r) for r in group), ""]
    counts = {s: sum(1 for r in all_rules if r.scope == s) for s in ("All", "Prod", "Opt")}
    lines += [f"{len(all_rules)} rules: {counts['All']} All, {counts['Prod']} Prod, {counts['Opt']} Opt.", ""]
    lines += [
        "## Documented exceptions", "",
        "The one list of every place Keel departs from an upstream check (`policy/keel_policy/exceptions.py`). "
        "A finding covered here is shown as a warning, never a failure, by `keel check` and by the pack's "
        "advisory `keel-documented-exceptions` policy.", "",
        "| exception | waives | applies when | reason |", "|---|---|---|---|",
        *(f"| {e.key} | {e.waives} | {e.applies_when} | {e.reason} |" for e in EXCEPTIONS), "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(render(), end="")
