"""The release gate and deploy check as the stack wires them, under Pulumi mocks.

Every stack (dev, staging, prod) is evaluated once by keel.evaluate (shared with tests/infra), and
a small program checks that Pulumi really orders the services after the release task run and the
deploy check after the services (what `depends_on` on a component means to the engine).
"""

from __future__ import annotations

import asyncio

import pulumi
import pytest
from keel.aws_identity import AwsIdentity
from keel.components.deploy_check import DeployCheck, DeployCheckArgs
from keel.components.release import Release, ReleaseArgs
from pulumi.runtime.mocks import MockMonitor

from tests.infra.conftest import STACKS, evaluated

RELEASE_RUN = "pulumi-python:dynamic/keel:ReleaseRun"
DEPLOY_CHECK_RUN = "pulumi-python:dynamic/keel:DeployCheckRun"
SERVICE = "aws:ecs/service:Service"
# What may differ between the release and web containers: what each process does, not what it runs.
PER_PROCESS = {"name", "command", "portMappings", "stopTimeout", "logConfiguration", "cpu", "memory", "healthCheck"}


@pytest.fixture(params=STACKS)
def stack(request):
    return evaluated(request.param)


def only(stack, type_):
    found = stack.by_type(type_)
    assert len(found) == 1, f"{stack.stack}: expected one {type_}, found {[r.name for r in found]}"
    return found[0]


def web_service(stack):
    web_td = stack.task_definitions()["web"].arn
    return next(s for s in stack.by_type(SERVICE) if s.plain_inputs["taskDefinition"] == web_td)


def test_release_runs_the_release_task_definition_in_webs_network(stack):
    release = only(stack, RELEASE_RUN).plain_inputs
    release_container = stack.container_definitions()["release"]
    network = web_service(stack).plain_inputs["networkConfiguration"]
    logs = release_container["logConfiguration"]["options"]

    assert release["task_definition_arn"] == stack.task_definitions()["release"].arn
    assert release["container_name"] == release_container["name"] == "release"
    assert release["subnet_ids"] == network["subnets"]
    assert release["security_group_ids"] == network["securityGroups"]
    assert (release["log_group_name"], release["log_stream_prefix"]) == (logs["awslogs-group"], logs["awslogs-stream-prefix"])
    assert release["aws"]["region"] == stack.config["aws:region"] == logs["awslogs-region"]
    assert release["cluster_arn"] == web_service(stack).plain_inputs["cluster"]
    assert 1 <= release["timeout_minutes"] <= 120


def test_release_container_runs_webs_image_environment_secrets_and_roles(stack):
    containers = stack.container_definitions()
    release, web = containers["release"], containers["web"]

    assert release["image"] == web["image"] and "@sha256:" in release["image"]  # the same digest
    assert sorted(release["environment"], key=lambda e: e["name"]) == sorted(web["environment"], key=lambda e: e["name"])
    assert sorted(release["secrets"], key=lambda s: s["name"]) == sorted(web["secrets"], key=lambda s: s["name"])
    shared = {k: v for k, v in release.items() if k not in PER_PROCESS}
    assert shared == {k: v for k, v in web.items() if k in shared}
    assert release["command"] == ["python", "manage.py", "release"]
    definitions = stack.task_definitions()
    for role in ("taskRoleArn", "executionRoleArn"):  # same permissions, same secrets access
        assert definitions["release"].plain_inputs[role] == definitions["web"].plain_inputs[role]
    assert release["logConfiguration"]["options"]["mode"] == "blocking"  # no release line is dropped


def test_deploy_check_verifies_each_service_against_its_task_definition(stack):
    check = only(stack, DEPLOY_CHECK_RUN).plain_inputs
    services = {s.plain_inputs["name"]: s.plain_inputs["taskDefinition"] for s in stack.by_type(SERVICE)}
    wanted = {s["service_name"]: s["task_definition_arn"] for s in check["services"].values()}

    assert set(check["services"]) == {"web", "worker", "beat"}
    assert wanted == services
    assert check["aws"]["region"] == stack.config["aws:region"]


# --- what depends_on means to the engine ------------------------------------------------------


class _Mocks(pulumi.runtime.Mocks):
    def new_resource(self, args):
        return [f"{args.name}-id", {**args.inputs, "arn": f"arn:aws:test:::{args.name}"}]

    def call(self, args):
        return {}


def test_engine_orders_release_after_its_prerequisites_services_after_it_and_the_check_last(monkeypatch):
    registered: dict[str, tuple[str, str, list[str]]] = {}
    original = MockMonitor.RegisterResource

    def record(self, request):
        response = original(self, request)
        registered[request.name] = (request.type, response.urn, list(request.dependencies))
        return response

    monkeypatch.setattr(MockMonitor, "RegisterResource", record)
    asyncio.set_event_loop(asyncio.new_event_loop())  # Pulumi's runtime uses the thread's loop
    pulumi.runtime.set_mocks(_Mocks(), project="keel", stack="wiring", preview=False)

    @pulumi.runtime.test
    def program():
        # e.g. the security group rules and role policies the task needs, which its inputs do not reference
        prerequisite = pulumi.CustomResource("test:index:Rule", "tasks-egress", {})
        release = Release("release", ReleaseArgs(
            cluster_arn="arn:aws:ecs:eu-west-1:123456789012:cluster/c",
            task_definition_arn="arn:aws:ecs:eu-west-1:123456789012:task-definition/keel-release:3",
            subnet_ids=["subnet-1"], security_group_ids=["sg-1"], log_group_name="/keel/release",
            log_stream_prefix="keel", aws=AwsIdentity(region="eu-west-1")), pulumi.ResourceOptions(depends_on=[prerequisite]))
        services = [pulumi.CustomResource("test:index:Service", p, {"name": p},
                                          pulumi.ResourceOptions(depends_on=[release])) for p in ("web", "worker", "beat")]
        check = DeployCheck("deploy-check", DeployCheckArgs(
            cluster_arn="arn:aws:ecs:eu-west-1:123456789012:cluster/c",
            services={s: (s, f"arn:aws:ecs:eu-west-1:123456789012:task-definition/keel-{s}:3") for s in ("web", "worker", "beat")},
            aws=AwsIdentity(region="eu-west-1")), pulumi.ResourceOptions(depends_on=services))
        return pulumi.Output.all(*(s.urn for s in services), check.summaries)

    program()

    release_run_urn = registered["release-run"][1]
    assert registered["release-run"][0] == RELEASE_RUN
    assert registered["tasks-egress"][1] in registered["release-run"][2], "the release starts before what it was told to wait for"
    for process in ("web", "worker", "beat"):
        assert release_run_urn in registered[process][2], f"{process} does not wait for the release task run"
    check_deps = registered["deploy-check-run"][2]
    assert {registered[p][1] for p in ("web", "worker", "beat")} <= set(check_deps)
