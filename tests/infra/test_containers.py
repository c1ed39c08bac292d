"""Task and container definitions: valid for ECS, sized for Fargate, and run the way the app expects."""

from __future__ import annotations

import json
from pathlib import Path

import botocore.session
import pytest
from botocore.validate import ParamValidator
from keel import contract, procfile
from keel.components.taskdefinitions import STOP_TIMEOUTS
from keel.evaluate import is_secret_wrapped, repo_root, unwrap_secret
from keel.outputs import LOG_STREAM_PREFIX, PROCESSES
from keel.stack_config import FARGATE_MEMORY

ECS_MODEL = botocore.session.get_session().get_service_model("ecs")
REGISTER = ECS_MODEL.operation_model("RegisterTaskDefinition").input_shape
# AWS's published Fargate table (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-tasks-services.html),
# written out independently of stack_config so a typo in either shows up here.
FARGATE_TABLE = {
    256: [512, 1024, 2048],
    512: [1024, 2048, 3072, 4096],
    1024: [2048, 3072, 4096, 5120, 6144, 7168, 8192],
    2048: list(range(4096, 16385, 1024)),
    4096: list(range(8192, 30721, 1024)),
    8192: list(range(16384, 61441, 4096)),
    16384: list(range(32768, 122881, 8192)),
}


def register_request(record) -> dict:
    """The RegisterTaskDefinition request the provider sends for a task definition's inputs."""
    inputs = unwrap_secret(record.inputs)
    request = {
        "family": inputs["family"],
        "containerDefinitions": json.loads(inputs["containerDefinitions"]),
        "cpu": inputs["cpu"],
        "memory": inputs["memory"],
        "networkMode": inputs["networkMode"],
        "requiresCompatibilities": inputs["requiresCompatibilities"],
        "executionRoleArn": inputs["executionRoleArn"],
        "taskRoleArn": inputs["taskRoleArn"],
        "runtimePlatform": inputs["runtimePlatform"],
        "volumes": inputs["volumes"],
        "tags": [{"key": k, "value": v} for k, v in inputs["tags"].items()],
    }
    return request


def test_task_definitions_match_the_ecs_api_model(stack):
    for record in stack.by_type("aws:ecs/taskDefinition:TaskDefinition"):
        report = ParamValidator().validate(register_request(record), REGISTER)
        assert not report.has_errors(), f"{record.name}: {report.generate_report()}"


def test_validator_rejects_a_malformed_container_definition(stack):
    """The model check has teeth: a wrong type in a container definition is reported."""
    record = stack.by_type("aws:ecs/taskDefinition:TaskDefinition")[0]
    request = register_request(record)
    request["containerDefinitions"][0]["stopTimeout"] = "45"
    assert ParamValidator().validate(request, REGISTER).has_errors()


def test_fargate_sizes_are_in_aws_table(stack):
    assert {cpu: list(mem) for cpu, mem in FARGATE_MEMORY.items()} == FARGATE_TABLE
    for record in stack.by_type("aws:ecs/taskDefinition:TaskDefinition"):
        cpu, memory = int(record.inputs["cpu"]), int(record.inputs["memory"])
        assert memory in FARGATE_TABLE[cpu], f"{record.name}: {cpu}/{memory}"


def test_one_container_per_process_named_after_it(stack):
    assert set(stack.container_definitions()) == set(PROCESSES)
    for process, record in stack.task_definitions().items():
        assert len(json.loads(record.inputs["containerDefinitions"])) == 1
        assert record.inputs["family"] == f"keel-{stack.stack}-{process}"
        assert record.inputs["networkMode"] == "awsvpc"
        assert record.inputs["requiresCompatibilities"] == ["FARGATE"]
        assert record.inputs["executionRoleArn"] != record.inputs["taskRoleArn"]
        assert record.inputs["runtimePlatform"] == {"operatingSystemFamily": "LINUX", "cpuArchitecture": "X86_64"}


def test_commands_come_from_the_procfile_in_exec_form(stack):
    commands = procfile.commands()
    for process, definition in stack.container_definitions().items():
        assert definition["command"] == commands[process]
        assert "entryPoint" not in definition  # no shell wrapper swallowing SIGTERM


def test_containers_are_hardened(stack):
    for process, definition in stack.container_definitions().items():
        assert definition["user"] == "10001:10001", process
        assert definition["readonlyRootFilesystem"] is True
        assert definition.get("privileged") is not True
        assert definition["linuxParameters"]["initProcessEnabled"] is True
        assert {"sourceVolume": "tmp", "containerPath": "/tmp", "readOnly": False} in definition["mountPoints"]
    for record in stack.by_type("aws:ecs/taskDefinition:TaskDefinition"):
        assert {"name": "tmp"} in record.inputs["volumes"]


def test_ecs_exec_agent_can_write_on_the_read_only_root(stack):
    """The SSM agent that ECS Exec starts writes under /var/lib and /var/log; without volumes it fails."""
    ssm = {"/var/lib/amazon/ssm", "/var/log/amazon/ssm"}
    exec_on = stack.outputs["execEnabled"]
    for process, definition in stack.container_definitions().items():
        writable = {m["containerPath"]: m["sourceVolume"] for m in definition["mountPoints"] if not m["readOnly"]}
        assert (ssm <= set(writable)) is exec_on, process
        record = stack.task_definitions()[process]
        declared = {v["name"] for v in record.inputs["volumes"]}
        assert set(writable.values()) == declared, process  # every mount has its task volume, nothing more


def test_stop_timeouts_outlast_the_app_drain(stack):
    definitions = stack.container_definitions()
    assert definitions["web"]["stopTimeout"] >= contract.WEB_GRACEFUL_TIMEOUT + 10
    assert definitions["worker"]["stopTimeout"] == 120
    assert definitions["worker"]["stopTimeout"] > contract.WORKER_SOFT_SHUTDOWN_TIMEOUT
    for process, definition in definitions.items():
        assert definition["stopTimeout"] == STOP_TIMEOUTS[process] <= 120


def test_logs_go_to_one_group_per_process(stack):
    groups = stack.outputs["logGroupNames"]
    for process, definition in stack.container_definitions().items():
        log = definition["logConfiguration"]
        assert log["logDriver"] == "awslogs"
        options = log["options"]
        assert options["awslogs-group"] == groups[process]
        assert options["awslogs-stream-prefix"] == stack.outputs[LOG_STREAM_PREFIX]
        assert options["awslogs-region"] == stack.outputs["region"]
        if process == "release":
            assert options["mode"] == "blocking"
        else:
            assert options["mode"] == "non-blocking" and options["max-buffer-size"] == "25m"
    assert len(set(groups.values())) == len(PROCESSES)


def test_every_process_runs_the_same_image_digest(stack):
    images = {d["image"] for d in stack.container_definitions().values()}
    assert images == {stack.outputs["imageRef"]}
    assert "@sha256:" in stack.outputs["imageRef"]


def test_image_is_built_for_fargate_and_pushed_with_ecr_credentials(stack):
    (image,) = stack.by_type("docker:index/image:Image")
    inputs = image.plain_inputs
    assert inputs["build"]["platform"] == "linux/amd64"
    assert (Path.cwd() / inputs["build"]["context"]).resolve() == repo_root()
    assert (repo_root() / "Dockerfile").exists()
    assert inputs["imageName"].startswith(stack.outputs["repositoryUrl"] + ":")
    assert inputs["registry"]["username"] == "AWS"
    assert inputs["buildOnPreview"] is False
    # The registry credentials are kept secret in state.
    assert is_secret_wrapped(image.inputs["registry"])


def test_only_web_exposes_the_port(stack):
    definitions = stack.container_definitions()
    assert definitions["web"]["portMappings"] == [{"containerPort": contract.PORT, "protocol": "tcp", "name": "http"}]
    assert all("portMappings" not in definitions[p] for p in ("release", "worker", "beat"))


@pytest.mark.parametrize("process", ["worker", "beat"])
def test_service_processes_get_their_own_sizes(prod, process):
    record = prod.task_definitions()[process]
    definition = prod.container_definitions()[process]
    assert (definition["cpu"], definition["memory"]) == (int(record.inputs["cpu"]), int(record.inputs["memory"]))
