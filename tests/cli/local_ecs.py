"""ECS as keel rollback uses it, with each task run as a local process of its image.

moto cannot run awsvpc tasks, and a Stubber cannot run a migration; this stand-in can. It takes
every request through botocore's ECS model first (as the real client would), keeps task
definitions (register, describe, deregister), and runs a RunTask synchronously: the container's
image names a stand-in image (tests/app/migration_sets, via ``images``), its command (or the
override) runs as ``manage.py`` against the real Postgres, and its output lines go to the task's
awslogs stream in CloudWatch Logs (a moto server), where keel's log follower reads them. What it
models of ECS: a task definition is immutable and gets family:revision ARNs; RunTask returns a
PROVISIONING task; DescribeTasks reports it STOPPED with the container's exit code.
"""

from __future__ import annotations

import json
import time
import uuid

import boto3
from botocore.validate import ParamValidator

from tests.app.helpers import image_manage

ACCOUNT = "123456789012"


class LocalEcs:
    def __init__(self, region: str, logs, images: dict[str, str], database_url: str) -> None:
        self.meta = boto3.client("ecs", region_name=region, aws_access_key_id="x", aws_secret_access_key="x").meta
        self.region, self.logs, self.images, self.database_url = region, logs, images, database_url
        self.definitions: dict[str, dict] = {}
        self.tasks: dict[str, dict] = {}
        self.calls: list[tuple[str, dict]] = []

    # --- the requests keel sends -------------------------------------------------------------
    def describe_task_definition(self, **request) -> dict:
        self._validate("DescribeTaskDefinition", request)
        return {"taskDefinition": self.definitions[request["taskDefinition"]], "tags": []}

    def register_task_definition(self, **request) -> dict:
        self._validate("RegisterTaskDefinition", request)
        revision = 1 + sum(d["family"] == request["family"] for d in self.definitions.values())
        arn = f"arn:aws:ecs:{self.region}:{ACCOUNT}:task-definition/{request['family']}:{revision}"
        self.definitions[arn] = {**request, "taskDefinitionArn": arn, "revision": revision, "status": "ACTIVE"}
        return {"taskDefinition": self.definitions[arn]}

    def deregister_task_definition(self, **request) -> dict:
        self._validate("DeregisterTaskDefinition", request)
        self.definitions[request["taskDefinition"]]["status"] = "INACTIVE"
        return {"taskDefinition": self.definitions[request["taskDefinition"]]}

    def run_task(self, **request) -> dict:
        self._validate("RunTask", request)
        definition = self.definitions[request["taskDefinition"]]
        overrides = {o["name"]: o for o in request.get("overrides", {}).get("containerOverrides", [])}
        container = definition["containerDefinitions"][0]
        command = overrides.get(container["name"], {}).get("command") or container["command"]
        assert command[:2] == ["python", "manage.py"], command
        history = self.images[container["image"].rsplit("@", 1)[-1]]
        done = image_manage(history, *command[2:], database_url=self.database_url)
        task_id = uuid.uuid4().hex
        arn = f"arn:aws:ecs:{self.region}:{ACCOUNT}:task/{request['cluster']}/{task_id}"
        options = container["logConfiguration"]["options"]
        self._log(options["awslogs-group"], f"{options['awslogs-stream-prefix']}/{container['name']}/{task_id}",
                  (done.stdout + done.stderr).splitlines())
        self.tasks[arn] = {"taskArn": arn, "lastStatus": "STOPPED", "desiredStatus": "STOPPED",
                           "taskDefinitionArn": definition["taskDefinitionArn"], "startedBy": request.get("startedBy"),
                           "containers": [{"name": container["name"], "lastStatus": "STOPPED",
                                           "exitCode": done.returncode}]}
        self.calls.append(("RunTask", {"image": history, "command": command}))
        return {"tasks": [{**self.tasks[arn], "lastStatus": "PROVISIONING"}], "failures": []}

    def describe_tasks(self, **request) -> dict:
        self._validate("DescribeTasks", request)
        return {"tasks": [self.tasks[arn] for arn in request["tasks"] if arn in self.tasks], "failures": []}

    def get_paginator(self, operation: str):
        assert operation == "list_tasks"
        running = [arn for arn, t in self.tasks.items() if t["lastStatus"] != "STOPPED"]
        return type("Pages", (), {"paginate": lambda _self, **request: [{"taskArns": running}]})()

    # --- helpers -----------------------------------------------------------------------------
    def add_definition(self, definition: dict) -> str:
        """Register the stack's own task definition (as `pulumi up` did) and return its ARN."""
        return self.register_task_definition(**definition)["taskDefinition"]["taskDefinitionArn"]

    def _validate(self, operation: str, request: dict) -> None:
        shape = self.meta.service_model.operation_model(operation).input_shape
        report = ParamValidator().validate(request, shape)
        assert not report.has_errors(), report.generate_report()

    def _log(self, group: str, stream: str, lines: list[str]) -> None:
        try:
            self.logs.create_log_group(logGroupName=group)
        except self.logs.exceptions.ResourceAlreadyExistsException:
            pass
        self.logs.create_log_stream(logGroupName=group, logStreamName=stream)
        now = int(time.time() * 1000)
        if lines:
            self.logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=[
                {"timestamp": now + i, "message": line} for i, line in enumerate(lines)])


def release_definition(evaluated_release) -> dict:
    """The release task definition the stack registers, as RegisterTaskDefinition takes it."""
    inputs = evaluated_release.plain_inputs
    keys = ("family", "cpu", "memory", "networkMode", "requiresCompatibilities", "executionRoleArn", "taskRoleArn",
            "volumes", "runtimePlatform")
    request = {k: inputs[k] for k in keys if inputs.get(k) is not None}
    request["containerDefinitions"] = json.loads(inputs["containerDefinitions"])
    return request
