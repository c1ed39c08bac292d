"""`keel check --stack NAME`: every committed stack passes the mandatory rules; a config that breaks
one makes the command fail and name the rule; --json is machine-readable; bad input is one line."""

from __future__ import annotations

import io
import json

import keel.evaluate
import pytest
from keel.cli import main
from keel.cli.context import Context as CliContext
from keel_policy.engine import FAIL, evaluate, rules
from keel_policy.model import Resource, from_record
from keel_policy.registry import Context

from tests.infra.conftest import STACKS, evaluated

RULE_IDS = {r.id for r in rules()}


@pytest.fixture
def shared_evaluations(monkeypatch):
    """keel check reuses the session's evaluation of each committed stack (the program is deterministic);
    only a check with --set overrides evaluates the program again."""
    real = keel.evaluate.evaluate_stack

    def cached(stack, overrides=None, **kwargs):
        return evaluated(stack) if not overrides else real(stack, overrides=overrides, **kwargs)

    monkeypatch.setattr(keel.evaluate, "evaluate_stack", cached)


def keel_check(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["check", *args], CliContext(stdout=out, stderr=err))
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("stack", STACKS)
def test_committed_stack_passes_every_mandatory_rule(stack):
    evaluation = evaluated(stack)
    ctx = Context(stack, evaluation.config.get("keel:preset"))
    failed = [r for r in evaluate([from_record(r) for r in evaluation.resources if r.custom], ctx) if r.status == FAIL]
    assert not failed, "\n".join(f"{r.rule} {r.resource}: {r.message}" for r in failed)


@pytest.mark.parametrize("stack", STACKS)
def test_keel_check_prints_a_row_for_every_rule(stack, shared_evaluations):
    code, out, _ = keel_check("--stack", stack)
    rows = [line.split()[0] for line in out.splitlines()[2:] if line.strip() and not line.startswith("stack ")]
    assert set(rows) == RULE_IDS
    assert f"stack {stack}: " in out.splitlines()[-1]
    assert code == (1 if " FAIL " in out else 0)


def test_keel_check_json_parses_and_matches_the_exit_code(shared_evaluations):
    code, out, _ = keel_check("--stack", "dev", "--json")
    document = json.loads(out)
    assert document["stack"] == "dev"
    assert {r["rule"] for r in document["results"]} == RULE_IDS
    assert {"rule", "ids", "resource", "status", "message", "scope", "severity", "level"} <= set(document["results"][0])
    assert document["passed"] is (code == 0)
    assert any(e["key"] == "HTTP-REDIRECT" for e in document["exceptions"])


def test_weakened_prod_config_fails_and_names_the_rule(shared_evaluations):
    # Prod without Multi-AZ breaks RDS-03, mandatory in prod.
    code, out, _ = keel_check("--stack", "prod", "--set", "keel:dbMultiAz=false")
    assert code == 1
    failing = [line for line in out.splitlines() if line.startswith("RDS-03")]
    assert failing and " FAIL " in failing[0] and "multiAz" in failing[0]
    assert "FAILED: mandatory rules are violated" in out.splitlines()[-1]


def test_unknown_stack_is_one_clear_line(shared_evaluations):
    code, out, err = keel_check("--stack", "nosuchstack")
    assert code == 2 and out == ""
    assert "Pulumi.nosuchstack.yaml" in err and "Traceback" not in err


def test_invalid_stack_config_is_reported_not_checked(shared_evaluations):
    code, out, err = keel_check("--stack", "dev", "--set", "keel:azCount=9")
    assert code == 2 and out == ""
    assert "keel:azCount" in err and "Traceback" not in err and len(err.splitlines()) == 2


def test_malformed_override_names_the_flag(shared_evaluations):
    code, _, err = keel_check("--stack", "dev", "--set", "keel:dbMultiAz")
    assert code == 2
    assert "--set 'keel:dbMultiAz' is not KEY=VALUE" in err


def test_check_is_listed_in_keel_help():
    from keel.cli import build_parser

    assert "check" in build_parser().format_help()


def _prod_resources():
    evaluation = evaluated("prod")
    return [from_record(r) for r in evaluation.resources if r.custom]


def _failed_rules(resources) -> set[str]:
    return {r.rule for r in evaluate(resources, Context("prod", "prod")) if r.status == FAIL}


def test_rules_join_the_real_stack_graph():
    """Cross-resource rules find their partners among the program's real resources (ids and ARNs as the
    mocks return them): take one partner away or add a stray rule, and exactly that rule fails."""
    resources = _prod_resources()
    assert _failed_rules(resources) == set()
    by_kind = {}
    for r in resources:
        by_kind.setdefault(r.kind, []).append(r)
    without = {
        "NET-01": "ec2:DefaultSecurityGroup", "S3-01": "s3:BucketPublicAccessBlock", "ECR-03": "ecr:LifecyclePolicy",
        "RDS-07": "rds:ParameterGroup", "RED-08": "elasticache:ParameterGroup", "ALB-09": "wafv2:WebAclAssociation",
    }
    for rule, kind in without.items():
        assert by_kind.get(kind), f"the prod stack has no {kind}"
        assert _failed_rules([r for r in resources if r.kind != kind]) == {rule}, rule
    db = by_kind["rds:Instance"][0]
    stray = from_record(type("Record", (), {
        "type": "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "name": "stray", "id": "sgr-stray",
        "arn": None, "urn": "urn:stray", "inputs": {
            "securityGroupId": db.props["vpcSecurityGroupIds"][0], "ipProtocol": "tcp", "fromPort": 5432.0,
            "toPort": 5432.0, "cidrIpv4": "10.0.0.0/8", "description": "whole network"}})())
    assert _failed_rules([*resources, stray]) == {"NET-06"}
    # The beat service is found through its task definition's container name.
    two_beats = [Resource(r.type, r.name, {**r.props, "desiredCount": 2.0}, r.urn, r.id, r.arn)
                 if r.kind == "ecs:Service" and "beat" in r.name else r for r in resources]
    assert _failed_rules(two_beats) == {"ECS-12"}
