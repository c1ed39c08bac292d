"""`keel maintenance`: the config it sets and the targeted `pulumi up` it runs.

The Pulumi CLI cannot run here, so the context records the commands; the URNs it targets are
checked against the engine's URN rule (pulumi/pulumi pkg/resource/deploy/deployment.go,
generateURN: the parent's whole type chain joined by "$", the root stack's type left out).
"""

from __future__ import annotations

import io
import subprocess

from keel.cli import main
from keel.cli.context import Context
from keel.evaluate import evaluate_stack


def run_keel(*argv: str):
    commands: list[list[str]] = []

    def record(command, **kwargs):
        commands.append(list(command))
        return subprocess.CompletedProcess(command, 0)

    err = io.StringIO()
    context = Context(stdout=io.StringIO(), stderr=err, which=lambda name: f"/usr/bin/{name}", run_process=record)
    code = main(list(argv), context)
    return code, commands, err.getvalue()


def test_on_sets_the_config_and_targets_only_what_maintenance_changes():
    code, commands, _ = run_keel("maintenance", "on", "--stack", "staging")

    assert code == 0
    assert commands[0] == ["pulumi", "config", "set", "keel:maintenance", "true", "--stack", "staging"]
    up = commands[-1]
    assert up[:4] == ["pulumi", "up", "--stack", "staging"] and "--yes" not in up
    targets = sorted(arg.removeprefix("--target=") for arg in up if arg.startswith("--target="))
    names = {urn.rsplit("::", 1)[1] for urn in targets}
    # The listeners it repoints, and all that maintenance mode adds: the rule, the page's function with its
    # role, log group and permission, and its target group and attachment. Nothing of web, worker or beat.
    assert names == {"alb-http", "alb-https", "alb-maintenance-health", "alb-maintenance",
                     "maintenance-page", "maintenance-page-fn", "maintenance-page-invoke",
                     "maintenance-role", "maintenance-role-role", "maintenance-role-logs",
                     "maintenance-logs", "maintenance-logs-page", "maintenance-target", "maintenance-target-attachment"}
    assert "urn:pulumi:staging::keel::keel:lb:LoadBalancer$aws:lb/listener:Listener::alb-https" in targets
    assert ("urn:pulumi:staging::keel::keel:lambda:Function$aws:lambda/function:Function::maintenance-page-fn"
            in targets)


def test_full_also_targets_worker_beat_and_the_worker_scaling_it_removes():
    code, commands, err = run_keel("maintenance", "full", "--stack", "prod", "--yes")
    assert code == 0 and commands[-1][-1] == "--yes"
    targets = [arg.removeprefix("--target=") for arg in commands[-1] if arg.startswith("--target=")]
    assert "urn:pulumi:prod::keel::keel:ecs:Services$aws:ecs/service:Service::svc-worker" in targets
    assert "urn:pulumi:prod::keel::keel:ecs:Services$aws:ecs/service:Service::svc-beat" in targets
    # prod's worker autoscales: its target and policies go away in full maintenance, so they are targeted.
    assert any("$aws:appautoscaling/target:Target::scale-worker-target" in t for t in targets)
    assert not any("svc-web" in t for t in targets)
    assert "worker and beat" in err


def test_the_allow_list_is_written_as_pulumi_config_set_path_does():
    code, commands, _ = run_keel("maintenance", "on", "--stack", "staging", "--allow", "203.0.113.7/32")
    assert code == 0
    assert ["pulumi", "config", "set", "--path", "keel:maintenanceAllow[0]", "203.0.113.7/32",
            "--stack", "staging"] in commands
    assert any(arg.endswith("::alb-maintenance-allow") for arg in commands[-1])


def test_a_bad_cidr_is_refused_before_anything_changes():
    code, commands, err = run_keel("maintenance", "on", "--stack", "staging", "--allow", "not-a-network")
    assert code == 2 and commands == []
    assert "keel:maintenanceAllow" in err


NESTED_PROGRAM = """
import pulumi
import pulumi_aws as aws

class Outer(pulumi.ComponentResource):
    def __init__(self, name):
        super().__init__("demo:x:Outer", name)
        Inner(f"{name}-inner", pulumi.ResourceOptions(parent=self))

class Inner(pulumi.ComponentResource):
    def __init__(self, name, opts):
        super().__init__("demo:x:Inner", name, None, opts)
        aws.sns.Topic(f"{name}-topic", opts=pulumi.ResourceOptions(parent=self))

Outer("outer")
"""


def test_engine_urns_carry_the_whole_parent_type_chain(tmp_path):
    """Where Pulumi's mocks keep only the parent's own type, the engine keeps the whole chain."""
    (tmp_path / "Pulumi.yaml").write_text("name: demo\nruntime: python\nmain: prog/\n")
    (tmp_path / "Pulumi.dev.yaml").write_text("config:\n  aws:region: eu-west-1\n")
    (tmp_path / "prog").mkdir()
    (tmp_path / "prog" / "__main__.py").write_text(NESTED_PROGRAM)

    ev = evaluate_stack("dev", project_root=tmp_path)

    urns = {r.name: r.engine_urn for r in ev.resources}
    assert urns["outer"] == "urn:pulumi:dev::demo::demo:x:Outer::outer"
    assert urns["outer-inner"] == "urn:pulumi:dev::demo::demo:x:Outer$demo:x:Inner::outer-inner"
    assert urns["outer-inner-topic"] == \
        "urn:pulumi:dev::demo::demo:x:Outer$demo:x:Inner$aws:sns/topic:Topic::outer-inner-topic"
