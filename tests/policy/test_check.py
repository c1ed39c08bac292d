"""`keel check --stack NAME`: every committed stack passes the mandatory rules; a config that breaks
one makes the command fail and name the rule; --json is machine-readable; bad input is one line."""

from __future__ import annotations

import io
import json
from pathlib import Path

import keel.evaluate
import pytest
from keel.cli import main
from keel.cli.context import Context as CliContext
from keel_policy.engine import FAIL, evaluate, rules
from keel_policy.model import Resource, from_record
from keel_policy.registry import Context

from tests.infra.conftest import STACKS, evaluated

RULE_IDS = {r.id for r in rules()}


REPO = Path(__file__).resolve().parents[2]
_with_overrides: dict = {}


@pytest.fixture
def shared_evaluations(monkeypatch):
    """keel check reuses the session's evaluation of each committed stack (the program is deterministic),
    and of each set of --set overrides it has seen."""
    real = keel.evaluate.evaluate_stack

    def cached(stack, overrides=None, **kwargs):
        if not overrides and not kwargs:
            return evaluated(stack)
        key = (stack, json.dumps(overrides, sort_keys=True), json.dumps(kwargs, sort_keys=True, default=str))
        if key not in _with_overrides:
            _with_overrides[key] = real(stack, overrides=overrides, **kwargs)
        return _with_overrides[key]

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


def rule_rows(out: str) -> list[str]:
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("RULE ")) + 2
    return [line for line in lines[start:] if line.strip() and not line.startswith("stack ")]


@pytest.mark.parametrize("stack", STACKS)
def test_keel_check_prints_a_row_for_every_rule(stack, shared_evaluations):
    code, out, err = keel_check("--stack", stack, "--stand-ins")
    assert {line.split()[0] for line in rule_rows(out)} == RULE_IDS, err
    assert f"stack {stack}: " in out.splitlines()[-1]
    assert code == (1 if " FAIL " in out else 0) == 0


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
    code, out, _ = keel_check("--stack", "prod", "--stand-ins", "--set", "keel:dbMultiAz=false")
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


# --- `--set` speaks `pulumi config set`; one line per problem; placeholders refused like pulumi preview ---


def test_the_committed_placeholders_fail_with_the_message_pulumi_preview_gives(shared_evaluations):
    from keel.stack_config import load, placeholder_problems

    from tests.infra.test_config_errors import committed_config

    code, out, err = keel_check("--stack", "staging")
    assert code == 2 and out == ""
    preview = placeholder_problems(load(committed_config("staging"), "staging"))  # what a real preview raises
    assert len(preview) == 2
    assert err.splitlines()[:2] == [f"keel: {line}" for line in preview]


def test_set_path_form_changes_one_field_of_an_object(shared_evaluations):
    # prod's file sets keel:web {cpu: 1024, memory: 2048, ...}: the path keeps cpu and the rest.
    code, out, err = keel_check("--stack", "prod", "--stand-ins", "--set", "keel:web.memory=4096", "--json")
    assert code == 0, err
    web = keel.evaluate.evaluate_stack("prod", overrides={"keel:domain": "app.acme.io", "keel:web.memory": "4096"})
    assert web.task_definitions()["web"].inputs["memory"] == "4096"
    assert web.task_definitions()["web"].inputs["cpu"] == "1024"


def test_a_bad_fargate_size_lists_every_allowed_value(shared_evaluations):
    code, _, err = keel_check("--stack", "dev", "--set", "keel:web.memory=1536")
    assert code == 2
    assert err.splitlines()[0] == "keel: keel:web.memory = 1536 is invalid for cpu 256: Fargate allows 512, 1024, 2048 MiB"


def test_set_secret_sets_a_secret_value_and_check_lists_names_never_values(shared_evaluations):
    code, out, err = keel_check("--stack", "dev", "--set", "keel:env.SENTRY_ENVIRONMENT=dev",
                                "--set", "--secret", "keel:secrets.STRIPE_API_KEY=sk_test_visible_nowhere")
    assert code == 0, err
    assert "sk_test_visible_nowhere" not in out + err
    variables = out.split("\n\n")[0].splitlines()
    for process in ("release", "web", "worker", "beat"):
        (plain,) = [line for line in variables if line.startswith(f"{process:<8} environment:")]
        secret = variables[variables.index(plain) + 1]
        assert "SENTRY_ENVIRONMENT" in plain.split() and "STRIPE_API_KEY" not in plain.split()
        assert secret.split()[0] == "secrets:" and "STRIPE_API_KEY" in secret.split()
    assert any("keel run" in line for line in variables)


def test_set_without_secret_on_keel_secrets_is_refused_with_the_command(shared_evaluations):
    code, _, err = keel_check("--stack", "dev", "--set", "keel:secrets.STRIPE_API_KEY=sk_test_abc")
    assert code == 2 and "sk_test_abc" not in err
    assert err.splitlines()[0] == ("keel: keel:secrets.STRIPE_API_KEY was set without --secret (it sits readable in "
                                   "the stack file): use `pulumi config set --secret --path "
                                   "'keel:secrets.STRIPE_API_KEY' ...`")


def test_json_lists_the_variables_of_each_process(shared_evaluations):
    code, out, _ = keel_check("--stack", "dev", "--json", "--set", "--secret", "keel:secrets.STRIPE_API_KEY=x")
    document = json.loads(out)
    assert set(document["variables"]) == {"release", "web", "worker", "beat"}
    assert "STRIPE_API_KEY" in document["variables"]["beat"]["secrets"]
    assert "DATABASE_URL" not in document["variables"]["beat"]["environment"]


def test_every_config_error_is_on_its_own_line(shared_evaluations):
    code, out, err = keel_check("--stack", "dev", "--set", "keel:azCount=9", "--set", "keel:web.memory=4096",
                                "--set", "keel:env.GITHUB_TOKEN=ghp_x", "--set", "keel:bogus=1")
    lines = err.splitlines()
    assert code == 2 and out == "" and len(lines) == 5
    assert sorted(line.split()[1] for line in lines[:4]) == ["keel:azCount", "keel:bogus", "keel:env.GITHUB_TOKEN",
                                                             "keel:web.memory"]
    assert lines[4].startswith("keel: fix the stack config")


def test_a_bare_set_or_a_secret_without_value_is_one_line(shared_evaluations):
    code, _, err = keel_check("--stack", "dev", "--set", "--secret", "keel:secrets.X")
    assert code == 2 and err.splitlines()[0] == "keel: --set --secret 'keel:secrets.X' is not KEY=VALUE"
    code, _, err = keel_check("--stack", "dev", "--set")
    assert code == 2 and "--set needs KEY=VALUE" in err


# --- the stack file as the Pulumi CLI writes it ---------------------------------------------------------


def fresh_clone(tmp_path, monkeypatch, config: dict) -> Path:
    """A project root whose Pulumi.staging.yaml holds ``config``; keel check and keel.evaluate read it."""
    import yaml

    project = yaml.safe_load((REPO / "Pulumi.yaml").read_text())
    project["main"] = str(REPO / "infra")  # the same program
    (tmp_path / "Pulumi.yaml").write_text(yaml.safe_dump(project))
    (tmp_path / "Pulumi.staging.yaml").write_text(
        yaml.safe_dump({"encryptionsalt": "v1:8Jc9qYk1jR4=:v1:Vq2b3Q8L9/n4F0dX:Zk3n1w==", "config": config},
                       sort_keys=True))
    monkeypatch.setattr(keel.evaluate, "repo_root", lambda: tmp_path)
    return tmp_path


def committed_staging() -> dict:
    import yaml

    return yaml.safe_load((REPO / "Pulumi.staging.yaml").read_text())["config"]


def test_judging_flow_own_variable_own_secret_and_ses_from_the_stack_file(tmp_path, monkeypatch):
    """What `pulumi config set --path 'keel:env.SENTRY_ENVIRONMENT' staging`, `pulumi config set --secret --path
    'keel:secrets.STRIPE_API_KEY' sk_live_...` and `pulumi config set keel:email ses` write (the secret as
    `secure:` ciphertext, which keel check never decrypts), after setting the user's own domain and zone."""
    config = committed_staging()
    config.update({"keel:domain": "staging.acme.io", "keel:hostedZoneId": "Z04412345ABCDEFGHIJK",
                   "keel:email": "ses"})
    config["keel:env"]["SENTRY_ENVIRONMENT"] = "staging"
    config["keel:secrets"] = {"STRIPE_API_KEY": {"secure": "v1:ZmFrZW5vbmNl:c2tfbGl2ZV9jaXBoZXJ0ZXh0"}}
    fresh_clone(tmp_path, monkeypatch, config)

    code, out, err = keel_check("--stack", "staging")
    assert code == 0, err
    assert "v1:ZmFrZW5vbmNl" not in out
    variables = out.split("\n\n")[0]
    for process in ("release", "web", "worker", "beat"):
        block = variables.split(f"\n{process:<8} environment:")[1].split("\n", 2)
        assert "SENTRY_ENVIRONMENT" in block[0].split() and "STRIPE_API_KEY" not in block[0].split()
        assert {"STRIPE_API_KEY", "EMAIL_URL"} <= set(block[1].split())

    evaluation = keel.evaluate.evaluate_stack("staging")
    assert "keel:secrets" in evaluation.secret_keys  # as the engine marks an object holding a secure value
    arn = {d["name"]: {s["name"]: s["valueFrom"] for s in d["secrets"]}
           for d in evaluation.container_definitions().values()}["web"]["STRIPE_API_KEY"]
    execution = next(r for r in evaluation.by_type("aws:iam/rolePolicy:RolePolicy") if r.name == "roles-execution")
    reads = [s for s in json.loads(execution.inputs["policy"])["Statement"] if s["Sid"] == "Secrets"][0]
    assert arn in reads["Resource"] and all(r.startswith("arn:aws:secretsmanager:") and "*" not in r
                                            for r in reads["Resource"])


def test_a_plain_value_beside_encrypted_ones_in_the_file_is_named(tmp_path, monkeypatch):
    """Pulumi marks the whole keel:secrets object secret when one value is; the file still shows which is not."""
    config = {"aws:region": "eu-west-1",
              "keel:secrets": {"STRIPE_API_KEY": {"secure": "v1:abc"}, "GITHUB_TOKEN": "ghp_in_clear"}}
    fresh_clone(tmp_path, monkeypatch, config)
    (tmp_path / "Pulumi.dev.yaml").write_text((tmp_path / "Pulumi.staging.yaml").read_text())
    code, out, err = keel_check("--stack", "dev")
    assert code == 2 and "ghp_in_clear" not in err
    assert err.splitlines()[0] == ("keel: keel:secrets.GITHUB_TOKEN was set without --secret (it sits readable in "
                                   "the stack file): use `pulumi config set --secret --path "
                                   "'keel:secrets.GITHUB_TOKEN' ...`")


def test_broken_yaml_names_the_file_and_line(tmp_path, monkeypatch):
    fresh_clone(tmp_path, monkeypatch, {"aws:region": "eu-west-1"})
    (tmp_path / "Pulumi.staging.yaml").write_text("config:\n  aws:region: eu-west-1\n  keel:web:\n"
                                                  "    cpu: 512\n   memory: 1024\n")
    code, out, err = keel_check("--stack", "staging")
    assert code == 2 and out == ""
    assert err.splitlines()[0].startswith("keel: Pulumi.staging.yaml line 5, column 4: ")
    assert "Traceback" not in err


def test_stand_ins_replace_only_the_committed_examples_and_say_so(shared_evaluations):
    code, out, err = keel_check("--stack", "staging", "--stand-ins")
    assert code == 0
    assert err.splitlines() == ["keel: checking with stand-ins for the committed examples: "
                                "keel:domain=staging.keel-ci.test, keel:hostedZoneId=Z0KEELCISTAGING"]
    code, out, err = keel_check("--stack", "staging", "--stand-ins", "--set", "keel:domain=staging.acme.io")
    assert code == 0 and "keel:domain=" not in err and "keel:hostedZoneId=Z0KEELCISTAGING" in err
    code, _, err = keel_check("--stack", "staging")
    assert code == 2 and err.splitlines()[-1].endswith("keel check --stack staging --stand-ins")


def test_a_whole_secrets_object_set_with_secret_is_not_called_plain():
    import io

    from keel.cli import main
    from keel.cli.context import Context

    err = io.StringIO()
    code = main(["check", "--stack", "dev", "--set", "--secret", 'keel:secrets={"STRIPE_API_KEY":"sk_test_x"}'],
                Context(stdout=io.StringIO(), stderr=err))
    assert code == 0 and "without --secret" not in err.getvalue()
