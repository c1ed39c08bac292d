"""Fixtures for the keel CLI: a valid set of stack outputs, a fake clock, stubbed ECS, moto Logs.

ECS is botocore's Stubber (moto cannot run awsvpc tasks); CloudWatch Logs is a real moto server
on loopback. Both validate every request against botocore's service models.
"""

from __future__ import annotations

import io
import json
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from time import time as epoch_seconds

import boto3
import pytest
from botocore.stub import ANY, Stubber
from keel import outputs as out
from keel.cli import main
from keel.cli.context import Context
from moto.server import ThreadedMotoServer

REGION = "eu-west-1"
ACCOUNT = "123456789012"
CLUSTER = "keel-staging"
RELEASE_TD = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/keel-staging-release:7"
TASK_ARN = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/{CLUSTER}/0123456789abcdef0123456789abcdef"
TASK_ID = TASK_ARN.rsplit("/", 1)[-1]
LOG_PREFIX = "keel"


def stack_outputs(**overrides) -> dict:
    """What `pulumi stack output --json --stack staging` prints for a deployed stack."""
    values = {
        out.STACK: "staging",
        out.URL: "https://staging.example.org",
        out.DASHBOARD_URL: "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1"
                           "#dashboards/dashboard/keel-staging",
        out.REGION: REGION,
        out.CLUSTER_NAME: CLUSTER,
        out.CLUSTER_ARN: f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{CLUSTER}",
        out.SERVICE_NAMES: {p: f"keel-staging-{p}" for p in out.SERVICES},
        out.TASK_DEFINITION_ARNS: {
            p: f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/keel-staging-{p}:7" for p in out.PROCESSES
        },
        out.CONTAINER_NAMES: {p: p for p in out.PROCESSES},
        out.PRIVATE_SUBNET_IDS: ["subnet-0aaa", "subnet-0bbb"],
        out.TASK_SECURITY_GROUP_ID: "sg-0task",
        out.LOG_GROUP_NAMES: {p: f"/keel/staging/{p}" for p in out.PROCESSES},
        out.LOG_STREAM_PREFIX: LOG_PREFIX,
        out.BUCKET_NAME: "keel-staging-media",
        out.REPOSITORY_URL: f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/keel",
        out.IMAGE_REF: f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/keel@sha256:" + "a" * 64,
        out.EXEC_ENABLED: True,
    }
    values.update(overrides)
    return values


@pytest.fixture
def outputs_file(tmp_path):
    """Writes stack outputs (optionally changed) to a file and returns its path."""

    def write(values: dict | None = None, text: str | None = None):
        path = tmp_path / "outputs.json"
        path.write_text(text if text is not None else json.dumps(values if values is not None else stack_outputs()))
        return path

    return write


class FakeTime:
    """A clock that only moves when the code sleeps; hooks run at chosen sleeps (1-based)."""

    def __init__(self):
        self.now = 1000.0
        self.sleeps = 0
        self.hooks: dict[int, Callable[[], None]] = {}

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        self.now += seconds
        hook = self.hooks.get(self.sleeps)
        if hook:
            hook()

    def at_sleep(self, number: int, action: Callable[[], None]) -> None:
        self.hooks[number] = action


@dataclass
class Result:
    code: int
    out: str
    err: str


@dataclass
class Harness:
    """Runs `keel ARGS` in-process with injected clients, fake time and subprocess calls."""

    ecs: object
    logs: object
    time: FakeTime = field(default_factory=FakeTime)
    which: dict = field(default_factory=lambda: {"aws": "bin/aws", "session-manager-plugin": "bin/session-manager-plugin"})
    processes: list = field(default_factory=list)
    process_options: list = field(default_factory=list)
    process_result: Callable = lambda argv: 0
    wall_clock: float = field(default_factory=epoch_seconds)

    def run_process(self, argv, **kwargs):
        import subprocess

        self.processes.append(argv)
        self.process_options.append(kwargs)
        result = self.process_result(argv)
        if isinstance(result, subprocess.CompletedProcess):
            return result
        return subprocess.CompletedProcess(argv, result, "", "")

    def client(self, service: str, region: str):
        assert region == REGION, f"keel asked for {service} in {region}, not the stack's region"
        return {"ecs": self.ecs, "logs": self.logs}[service]

    def __call__(self, *argv: str) -> Result:
        stdout, stderr = io.StringIO(), io.StringIO()
        context = Context(
            stdout=stdout,
            stderr=stderr,
            client_factory=self.client,
            sleep=self.time.sleep,
            clock=self.time.clock,
            wall_clock=lambda: self.wall_clock,
            which=self.which.get,
            run_process=self.run_process,
        )
        code = main(list(argv), context)
        return Result(code, stdout.getvalue(), stderr.getvalue())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def moto_endpoint():
    """A real moto server on loopback, for CloudWatch Logs."""
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def aws_env(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)


@pytest.fixture
def logs_client(moto_endpoint, aws_env):
    import requests

    requests.post(f"{moto_endpoint}/moto-api/reset", timeout=10)
    return boto3.client("logs", region_name=REGION, endpoint_url=moto_endpoint)


@pytest.fixture
def ecs_stub(aws_env):
    client = boto3.client("ecs", region_name=REGION, endpoint_url="http://127.0.0.1:9")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


@pytest.fixture
def keel(ecs_stub, logs_client) -> Harness:
    return Harness(ecs=ecs_stub[0], logs=logs_client)


def task(status: str, *, exit_code: int | None = None, **extra) -> dict:
    """A DescribeTasks entry for the one-off task, as ECS returns it."""
    container = {"name": "release", "lastStatus": status}
    if exit_code is not None:
        container["exitCode"] = exit_code
    return {
        "taskArn": TASK_ARN,
        "lastStatus": status,
        "desiredStatus": "STOPPED" if status == "STOPPED" else "RUNNING",
        "taskDefinitionArn": RELEASE_TD,
        "containers": [container],
        **extra,
    }


def run_task_params(*, started_by: str, container_override: dict, enable_exec: bool = False, **task_overrides) -> dict:
    """The RunTask request of a one-off: the release task definition in the stack's network."""
    return {
        "cluster": CLUSTER,
        "taskDefinition": RELEASE_TD,
        "count": 1,
        "launchType": "FARGATE",
        "networkConfiguration": {
            "awsvpcConfiguration": {
                "subnets": ["subnet-0aaa", "subnet-0bbb"],
                "securityGroups": ["sg-0task"],
                "assignPublicIp": "DISABLED",
            }
        },
        "startedBy": started_by,
        "enableExecuteCommand": enable_exec,
        "propagateTags": "TASK_DEFINITION",
        "overrides": {"containerOverrides": [{"name": "release", **container_override}], **task_overrides},
    }


def expect_describe(stubber, *described: dict) -> None:
    """DescribeTasks of the one-off task answers each of these in turn."""
    for one in described:
        stubber.add_response("describe_tasks", {"tasks": [one], "failures": []}, {"cluster": CLUSTER, "tasks": [TASK_ARN]})


def expect_stop(stubber, reason=ANY) -> None:
    stubber.add_response("stop_task", {"task": task("RUNNING")}, {"cluster": CLUSTER, "task": TASK_ARN, "reason": reason})


def put_log_lines(logs, group: str, stream: str, lines: list[str], start_ms: int | None = None) -> None:
    """Writes lines one millisecond apart, by default starting a minute ago."""
    start_ms = start_ms if start_ms is not None else int(epoch_seconds() * 1000) - 60_000
    try:
        logs.create_log_group(logGroupName=group)
    except logs.exceptions.ResourceAlreadyExistsException:
        pass
    try:
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
    except logs.exceptions.ResourceAlreadyExistsException:
        pass
    logs.put_log_events(
        logGroupName=group,
        logStreamName=stream,
        logEvents=[{"timestamp": start_ms + i, "message": line} for i, line in enumerate(lines)],
    )
