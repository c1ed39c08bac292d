"""The pulumi-policy pack runs the same rule functions: built from the registry with the right
enforcement levels, and reporting through pulumi-policy's own argument objects."""

from __future__ import annotations

import select
import subprocess
import sys
from pathlib import Path

import pytest
from keel_policy.engine import rules
from keel_policy.model import Resource, strings
from keel_policy.pack import policies
from keel_policy.registry import Context
from pulumi_policy import EnforcementLevel, ResourceValidationPolicy, StackValidationPolicy
from pulumi_policy.policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    StackValidationArgs,
)
from pulumi_policy.proxy import unknown_checking_proxy

from tests.policy.fixtures import compliant_stack, set_prop

REPO = Path(__file__).resolve().parents[2]


def _opts() -> PolicyResourceOptions:
    return PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], None)


def _policy_resources(resources: list[Resource]) -> list[PolicyResource]:
    """PolicyResources as the analyzer builds them: outputs as props (ids are not among them), and for
    each property the resources its value came from (how the engine links resources during a preview)."""
    built = {r.urn: PolicyResource(r.type, unknown_checking_proxy({**r.props, **({"arn": r.arn} if r.arn else {})}),
                                   r.urn, r.name, _opts(), None, None, [], {}) for r in resources}
    for r in resources:
        for prop, value in r.props.items():
            values = set(strings(value))
            deps = [built[o.urn] for o in resources if o is not r and values & (o.identities() - {o.urn})]
            if deps:
                built[r.urn].property_dependencies[prop] = deps
    return list(built.values())


def run_pack(resources: list[Resource], ctx: Context) -> dict[str, list[tuple[str, str | None]]]:
    """{policy name: [(message, urn)]} from running every policy the way the analyzer does."""
    reported: dict[str, list] = {}
    stack_resources = _policy_resources(resources)  # the analyzer sends the same list to every stack policy
    for policy in policies(ctx):
        def report(message, urn=None, name=policy.name):
            reported.setdefault(name, []).append((message, urn))
        if isinstance(policy, StackValidationPolicy):
            policy.validate(StackValidationArgs(stack_resources), report)
        else:
            for r in resources:
                args = ResourceValidationArgs(r.type, unknown_checking_proxy(dict(r.props)), r.urn, r.name, _opts(),
                                              None)
                policy.validate(args, report)
    return reported


def test_every_rule_is_a_policy_with_its_scope_as_enforcement_level():
    prod = {p.name: p for p in policies(Context("prod"))}
    dev = {p.name: p for p in policies(Context("dev"))}
    assert set(prod) == {r.id for r in rules()} | {"keel-documented-exceptions"}
    for rule in rules():
        assert prod[rule.id].description == rule.description
        assert isinstance(prod[rule.id], ResourceValidationPolicy if rule.per_resource else StackValidationPolicy)
        expected_dev = EnforcementLevel.MANDATORY if rule.scope == "All" else EnforcementLevel.ADVISORY
        assert dev[rule.id].enforcement_level == expected_dev, rule.id
        expected_prod = EnforcementLevel.ADVISORY if rule.scope == "Opt" else EnforcementLevel.MANDATORY
        assert prod[rule.id].enforcement_level == expected_prod, rule.id


def test_prod_preset_makes_prod_rules_mandatory_on_any_stack_name():
    levels = {p.name: p.enforcement_level for p in policies(Context("acceptance", preset="prod"))}
    assert levels["RDS-03"] == EnforcementLevel.MANDATORY


def test_pack_reports_nothing_but_documented_exceptions_for_the_compliant_stack():
    reported = run_pack(compliant_stack(), Context("prod"))
    assert set(reported) == {"keel-documented-exceptions"}
    assert all("LOG-BUCKET-SSE-S3" in m for m, _ in reported["keel-documented-exceptions"])


@pytest.mark.parametrize("policy,mutate,urn_name", [
    ("RDS-01", set_prop("db", "storageEncrypted", False), None),  # resource policy: the engine knows the resource
    ("S3-01", set_prop("keel-media-pab", "blockPublicAcls", False), "keel-media"),
    ("NET-06", set_prop("db-from-tasks", "referencedSecurityGroupId", "sg-alb"), "db-from-tasks"),
])
def test_pack_reports_a_mutation_through_pulumi_policy_args(policy, mutate, urn_name):
    reported = run_pack(mutate(compliant_stack()), Context("prod"))
    assert set(reported) - {"keel-documented-exceptions"} == {policy}
    if urn_name:
        assert reported[policy][0][1].endswith(f"::{urn_name}")


def test_policy_pack_entry_point_only_starts_the_pack():
    source = (REPO / "policy" / "__main__.py").read_text()
    assert "PolicyPack(" in source and "resource_rule" not in source and "def " not in source
    config = (REPO / "policy" / "PulumiPolicy.yaml").read_text()
    assert "runtime:" in config and "python" in config


def test_policy_pack_starts_and_announces_its_port():
    # The analyzer protocol: the pack prints the port of its gRPC server on stdout, then serves.
    env = {"PULUMI_STACK": "prod", "PATH": "", "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([sys.executable, str(REPO / "policy" / "__main__.py")], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, cwd=REPO / "policy", env=env)
    try:
        ready, _, _ = select.select([process.stdout], [], [], 60)
        line = process.stdout.readline().decode().strip() if ready else ""
        assert line.isdigit() and int(line) > 0, f"no port announced; stderr: {_stderr(process)}"
    finally:
        process.kill()
        process.wait()


def _stderr(process) -> str:
    process.kill()
    return process.stderr.read().decode()[-2000:]


def test_a_document_unknown_during_preview_is_reported_as_undecidable_not_passed():
    # pulumi-policy turns UnknownValueError into "can't run policy ... during preview" (advisory).
    from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError

    resources = set_prop("web-task", "containerDefinitions", UNKNOWN_STRING_VALUE)(compliant_stack())
    task = next(r for r in resources if r.name == "web-task")
    policy = {p.name: p for p in policies(Context("prod"))}["ECS-07"]
    args = ResourceValidationArgs(task.type, unknown_checking_proxy(dict(task.props)), task.urn, task.name, _opts(),
                                  None)
    with pytest.raises(UnknownValueError):
        policy.validate(args, lambda message, urn=None: None)
