"""Canned ECS and CloudWatch Logs exchanges and a fake clock for the release tests.

botocore's Stubber checks every request we send against the service model (and every canned
response against the response shape), so a wrong parameter name or type fails the test.
The fake clock only moves when the code under test sleeps, so waits take no real time.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import botocore.session
from botocore.stub import Stubber

REGION = "eu-west-1"
ACCOUNT = "123456789012"
CLUSTER = f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/keel-staging"
RELEASE_TD = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/keel-staging-release:7"
RELEASE_FAMILY = "keel-staging-release"
SUBNETS = ["subnet-0aaa", "subnet-0bbb"]
SECURITY_GROUPS = ["sg-0task"]
LOG_GROUP = "/keel/staging/release"
LOG_PREFIX = "keel"
TASK_ID = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
TASK_ARN = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/keel-staging/{TASK_ID}"
STREAM = f"{LOG_PREFIX}/release/{TASK_ID}"


class FakeClock:
    """Monotonic time that advances only when sleep() is called."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


_SESSION = botocore.session.get_session()  # one session: its loader caches the service models


def make_client(service: str) -> Any:
    """A real botocore client whose calls are answered by a Stubber (client.stubber)."""
    client = _SESSION.create_client(
        service, region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    client.stubber = Stubber(client)
    client.stubber.activate()
    return client


# --- canned ECS responses ---------------------------------------------------------------------


def task(
    status: str,
    *,
    exit_code: int | None = None,
    stop_code: str | None = None,
    stopped_reason: str | None = None,
    container_reason: str | None = None,
    started: bool | None = None,
    arn: str = TASK_ARN,
    started_by: str = "keel-release",
    td: str = RELEASE_TD,
) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "release", "lastStatus": status, "taskArn": arn}
    if exit_code is not None:
        container["exitCode"] = exit_code
    if container_reason:
        container["reason"] = container_reason
    described: dict[str, Any] = {
        "taskArn": arn,
        "clusterArn": CLUSTER,
        "taskDefinitionArn": td,
        "lastStatus": status,
        "desiredStatus": "STOPPED" if status == "STOPPED" else "RUNNING",
        "startedBy": started_by,
        "createdAt": dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        "containers": [container],
    }
    if started is None:  # by default a task that has an exit code has started
        started = exit_code is not None
    if started:
        described["startedAt"] = dt.datetime(2026, 1, 2, 3, 4, 20, tzinfo=dt.UTC)
    if stop_code:
        described["stopCode"] = stop_code
    if stopped_reason:
        described["stoppedReason"] = stopped_reason
    return described


def run_task_params(started_by: str = "keel-release") -> dict[str, Any]:
    """What the release gate must send to RunTask."""
    return {
        "cluster": CLUSTER,
        "taskDefinition": RELEASE_TD,
        "count": 1,
        "launchType": "FARGATE",
        "networkConfiguration": {
            "awsvpcConfiguration": {
                "subnets": SUBNETS,
                "securityGroups": SECURITY_GROUPS,
                "assignPublicIp": "DISABLED",
            }
        },
        "startedBy": started_by,
        "enableExecuteCommand": False,
        "propagateTags": "TASK_DEFINITION",
    }


def expect_run_task(ecs: Any, first_status: str = "PROVISIONING", params: dict | None = None) -> None:
    ecs.stubber.add_response(
        "run_task", {"tasks": [task(first_status)], "failures": []}, params or run_task_params()
    )


def expect_describe(ecs: Any, described: dict[str, Any]) -> None:
    ecs.stubber.add_response(
        "describe_tasks", {"tasks": [described], "failures": []}, {"cluster": CLUSTER, "tasks": [TASK_ARN]}
    )


def expect_no_running_release(ecs: Any) -> None:
    ecs.stubber.add_response(
        "list_tasks", {"taskArns": []}, {"cluster": CLUSTER, "family": RELEASE_FAMILY, "desiredStatus": "RUNNING"}
    )


# --- canned CloudWatch Logs responses ---------------------------------------------------------


def expect_stream_missing(logs: Any, token: str | None = None) -> None:
    params = {"logGroupName": LOG_GROUP, "logStreamName": STREAM, "startFromHead": True}
    if token:
        params["nextToken"] = token
    logs.stubber.add_client_error(
        "get_log_events",
        service_error_code="ResourceNotFoundException",
        service_message="The specified log stream does not exist.",
        http_status_code=400,
        expected_params=params,
    )


def expect_log_page(logs: Any, lines: list[str], token_in: str | None, token_out: str) -> None:
    """One GetLogEvents page; token_out == token_in means the end of the stream."""
    params = {"logGroupName": LOG_GROUP, "logStreamName": STREAM, "startFromHead": True}
    if token_in:
        params["nextToken"] = token_in
    events = [{"timestamp": 1767323045000 + i, "message": line, "ingestionTime": 1767323046000} for i, line in enumerate(lines)]
    logs.stubber.add_response(
        "get_log_events",
        {"events": events, "nextForwardToken": token_out, "nextBackwardToken": "b/1"},
        params,
    )



def expect_log_end(logs: Any, token: str) -> None:
    """A poll that finds nothing new (GetLogEvents returns the token it was given)."""
    expect_log_page(logs, [], token, token)


def make_runner(ecs: Any, logs: Any, clock: FakeClock, **options: Any):
    """A TaskRunner on the stubbed clients and fake clock, with short, round intervals."""
    from keel.tasks import TaskRunner

    settings = {"poll_interval": 2.0, "drain_settle": 1.0, "drain_timeout": 10.0, "stop_grace": 60.0}
    settings.update(options)
    return TaskRunner(ecs, logs, clock=clock, sleep=clock.sleep, **settings)


def release_spec(**changes: Any):
    from keel.tasks import TaskSpec

    fields = {
        "cluster": CLUSTER,
        "task_definition": RELEASE_TD,
        "container_name": "release",
        "subnet_ids": SUBNETS,
        "security_group_ids": SECURITY_GROUPS,
        "started_by": "keel-release",
    }
    fields.update(changes)
    return TaskSpec(**fields)


def struct(props: dict) -> Any:
    """Resource properties as the engine sends them to a provider over gRPC (a protobuf Struct).

    A private event loop: asyncio.run() would unset the thread's loop, which later tests (Pulumi's
    mocks) rely on.
    """
    import asyncio

    from pulumi.runtime import rpc

    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(rpc.serialize_properties(props, {}))
    finally:
        loop.close()
