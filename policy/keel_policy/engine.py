"""Evaluate every rule against a stack's resources, offline: the engine of ``keel check`` and the tests."""

from __future__ import annotations

from dataclasses import asdict, dataclass

# Importing the rule modules registers their rules.
from keel_policy import alb, ecr, ecs, iam, kms, logs, network, ops, rds, redis, s3, secrets  # noqa: F401
from keel_policy.exceptions import BY_KEY
from keel_policy.model import Resource, Stack
from keel_policy.registry import MANDATORY, RULES, Context, Rule

PASS, FAIL, WARN, NOT_APPLICABLE = "PASS", "FAIL", "WARN", "N/A"


@dataclass(frozen=True)
class Result:
    rule: str
    ids: str
    scope: str
    severity: str
    level: str
    resource: str
    status: str
    message: str

    def as_dict(self) -> dict:
        return asdict(self)


def rules() -> list[Rule]:
    return list(RULES.values())


def evaluate(resources: list[Resource], ctx: Context) -> list[Result]:
    """One result per finding, plus one PASS or N/A row for each rule without findings."""
    stack = Stack(resources)
    results: list[Result] = []
    for rule in rules():
        results += rule_results(rule, stack, ctx)
    return results


def rule_results(rule: Rule, stack: Stack, ctx: Context) -> list[Result]:
    level = rule.level(ctx)
    applicable = stack.of(*rule.kinds)

    def row(resource: str, status: str, message: str) -> Result:
        return Result(rule.id, rule.sources, rule.scope, rule.severity, level, resource, status, message)

    if not applicable:
        return [row("-", NOT_APPLICABLE, f"no {', '.join(rule.kinds)} in the stack")]
    found = rule.findings(stack, ctx)
    if not found:
        names = ", ".join(r.name for r in applicable[:3]) + (f" (+{len(applicable) - 3})" if len(applicable) > 3 else "")
        return [row(names, PASS, rule.title)]
    rows = []
    for finding in found:
        where = finding.resource.label if finding.resource else "(stack)"
        if finding.exception:
            exception = BY_KEY[finding.exception]
            rows.append(row(where, WARN, f"{finding.message} [documented exception {exception.key}]"))
        else:
            rows.append(row(where, FAIL if level == MANDATORY else WARN, finding.message))
    return rows


def failures(results: list[Result]) -> list[Result]:
    return [r for r in results if r.status == FAIL]


def violations(resources: list[Resource], ctx: Context) -> dict[str, list[str]]:
    """{rule id: [messages]} for every rule with a finding not covered by an exception (tests use it)."""
    stack = Stack(resources)
    found: dict[str, list[str]] = {}
    for rule in rules():
        messages = [f.message for f in rule.findings(stack, ctx) if not f.exception]
        if messages:
            found[rule.id] = messages
    return found
