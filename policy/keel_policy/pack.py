"""Turn the rule registry into pulumi-policy policies (the pack in policy/__main__.py uses this).

Each rule becomes one ResourceValidationPolicy or StackValidationPolicy named after its ID, with
its scope turned into an enforcement level for the stack being deployed. Findings covered by a
documented exception are reported once, as advisories, by ``keel-documented-exceptions``.
"""

from __future__ import annotations

from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    ResourceValidationPolicy,
    Severity,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError

from keel_policy.engine import rules
from keel_policy.exceptions import BY_KEY
from keel_policy.model import Resource, Stack, UnknownValue, unwrap
from keel_policy.registry import MANDATORY, Context, Rule

SEVERITIES = {s.value: s for s in Severity}


def plain(value: Any) -> Any:
    """Plain dicts and lists from pulumi-policy's property proxies (secrets unwrapped)."""
    if hasattr(value, "items"):
        return {k: plain(value[k]) for k in value}
    if isinstance(value, str | bytes):
        return value
    if hasattr(value, "__len__") and hasattr(value, "__getitem__"):
        return [plain(value[i]) for i in range(len(value))]
    return unwrap(value)


def raw(props: Any) -> dict:
    """The property bag without the unknown-value checks: rules treat an unknown value as not matching."""
    try:
        target = props["__target"]
    except (KeyError, TypeError):
        target = props
    return plain(target)


def from_policy_resource(r: Any) -> Resource:
    """A Resource from pulumi-policy's PolicyResource (stack policies)."""
    deps = {k: tuple(d.urn for d in v) for k, v in (getattr(r, "property_dependencies", None) or {}).items()}
    return Resource(type=r.resource_type, name=r.name, props=raw(r.props), urn=r.urn, prop_deps=deps)


def from_resource_args(args: Any) -> Resource:
    """A Resource from pulumi-policy's ResourceValidationArgs (resource policies)."""
    return Resource(type=args.resource_type, name=args.name, props=raw(args.props), urn=args.urn)


def _findings(compute, name: str):
    """Run a rule; a value unknown during a preview becomes pulumi-policy's own "can't run during preview"
    advisory instead of a silent pass."""
    try:
        return compute()
    except UnknownValue as unknown:
        raise UnknownValueError(unknown.sentinel, [name]) from unknown


def _level(rule: Rule, ctx: Context) -> EnforcementLevel:
    return EnforcementLevel.MANDATORY if rule.level(ctx) == MANDATORY else EnforcementLevel.ADVISORY


def policy_for(rule: Rule, ctx: Context):
    if rule.per_resource:
        def validate_resource(args, report_violation):
            resource = from_resource_args(args)
            if resource.kind in rule.kinds:
                for finding in _findings(lambda: rule.check_resource(resource, ctx), resource.name):
                    if not finding.exception:
                        report_violation(finding.message, None)

        return ResourceValidationPolicy(rule.id, rule.description, validate_resource, _level(rule, ctx),
                                        severity=SEVERITIES[rule.severity])

    def validate_stack(args, report_violation):
        stack = Stack([from_policy_resource(r) for r in args.resources])
        for finding in _findings(lambda: rule.findings(stack, ctx), rule.id):
            if not finding.exception:
                report_violation(finding.message, finding.resource.urn if finding.resource else None)

    return StackValidationPolicy(rule.id, rule.description, validate_stack, _level(rule, ctx),
                                 severity=SEVERITIES[rule.severity])


def exceptions_policy(ctx: Context) -> StackValidationPolicy:
    def validate(args, report_violation):
        stack = Stack([from_policy_resource(r) for r in args.resources])
        for rule in rules():
            try:
                found = rule.findings(stack, ctx)
            except UnknownValue:
                continue  # that rule's own policy reports it cannot run during the preview
            for finding in found:
                if finding.exception:
                    reason = BY_KEY[finding.exception].reason
                    report_violation(f"{rule.id}: {finding.message} (documented exception {finding.exception}: "
                                     f"{reason})", finding.resource.urn if finding.resource else None)

    return StackValidationPolicy("keel-documented-exceptions", "Findings Keel accepts by a documented exception "
                                 "(docs/policy-rules.md)", validate, EnforcementLevel.ADVISORY,
                                 severity=Severity.LOW)


def policies(ctx: Context) -> list:
    return [policy_for(rule, ctx) for rule in rules()] + [exceptions_policy(ctx)]
