"""`keel status`: the URL, each service's counts, task definition and last deployment, the last release."""

from __future__ import annotations

import argparse
import datetime as dt
from typing import Any

from keel import outputs as out
from keel.tasks import family_of, task_id_of

from . import stack
from .context import Context

# startedBy of the tasks keel starts, so the last *release* is not a `keel run` one-off.
# RELEASE_STARTED_BY must equal keel.components.release.STARTED_BY (a test checks it); it is
# repeated here so the CLI does not import the Pulumi SDK.
RELEASE_STARTED_BY = "keel-release"
RUN_STARTED_BY = "keel-run"
SHELL_STARTED_BY = "keel-shell"
ONE_OFF_STARTED_BY = (RUN_STARTED_BY, SHELL_STARTED_BY)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = stack.command_parser(
        subparsers,
        "status",
        "show the URL, the services, their last deployment and the last release",
        "Show the stack's URL, each service's desired and running task counts and task "
        "definition, the state of its last deployment, and the last release task.",
    )
    parser.set_defaults(func=command)


def command(args: argparse.Namespace, context: Context) -> int:
    outputs = stack.load(args, context)
    ecs = context.client("ecs", outputs.region)
    context.out(f"stack    {outputs.name}")
    context.out(f"url      {outputs.url or '(not exported)'}")
    context.out("")
    for line in service_table(ecs, outputs):
        context.out(line)
    context.out("")
    context.out(f"release  {last_release(ecs, outputs)}")
    return 0


def short_task_definition(task_definition_arn: str) -> str:
    return task_definition_arn.rsplit("/", 1)[-1]


def service_table(ecs: Any, outputs: stack.StackOutputs) -> list[str]:
    names = outputs.service_names
    if not names:
        return [f"services (stack output {out.SERVICE_NAMES!r} is missing: run `pulumi up` to export it)"]
    processes = [process for process in out.SERVICES if process in names]
    response = ecs.describe_services(cluster=outputs.cluster, services=[names[p] for p in processes])
    by_name = {service["serviceName"]: service for service in response.get("services", [])}
    rows = [("process", "desired", "running", "task definition", "last deployment")]
    for process in processes:
        service = by_name.get(names[process])
        if service is None or service.get("status") == "INACTIVE":
            rows.append((process, "-", "-", "-", f"service {names[process]} not found"))
            continue
        rows.append(
            (
                process,
                str(service.get("desiredCount", 0)),
                str(service.get("runningCount", 0)),
                short_task_definition(service.get("taskDefinition", "-")),
                deployment_state(service),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row[:4], widths, strict=True)) + "  " + row[4]
            for row in rows]


def deployment_state(service: dict[str, Any]) -> str:
    """The PRIMARY deployment's rolloutState (and reason), which tells a rollback from a success."""
    primary = next((d for d in service.get("deployments", []) if d.get("status") == "PRIMARY"), None)
    if primary is None:
        return "no deployment"
    state = primary.get("rolloutState", "UNKNOWN")
    reason = primary.get("rolloutStateReason")
    if primary.get("taskDefinition") and primary["taskDefinition"] != service.get("taskDefinition"):
        state += f" (deploying {short_task_definition(primary['taskDefinition'])})"
    return f"{state}: {reason}" if reason else state


def last_release(ecs: Any, outputs: stack.StackOutputs) -> str:
    """The newest release-family task that the release gate started (not a keel run one-off)."""
    release_family = family_of(outputs.task_definition("release"))
    running = _release_tasks(ecs, outputs, release_family, "RUNNING")
    if running:
        newest = max(running, key=lambda task: _when(task, "createdAt"))
        return f"running now: task {task_id_of(newest['taskArn'])}, {newest.get('lastStatus')}"
    stopped = _release_tasks(ecs, outputs, release_family, "STOPPED")
    if not stopped:
        return f"none in the last hour (ECS keeps stopped tasks of family {release_family} about an hour)"
    newest = max(stopped, key=lambda task: _when(task, "stoppedAt"))
    return describe_outcome(newest, outputs.container("release"))


def describe_outcome(task: dict[str, Any], container_name: str) -> str:
    when = _when(task, "stoppedAt").strftime("%Y-%m-%dT%H:%M:%SZ")
    revision = short_task_definition(task.get("taskDefinitionArn", "?"))
    exit_code = container_exit_code(task, container_name)
    if exit_code is None:
        return (f"never started ({revision}, stopped {when}): "
                f"{task.get('stopCode', 'no stopCode')}: {task.get('stoppedReason', 'no reason given')}")
    verdict = "succeeded" if exit_code == 0 else "FAILED"
    return f"{verdict}, exit code {exit_code} ({revision}, stopped {when})"


def container_exit_code(task: dict[str, Any], container_name: str) -> int | None:
    for container in task.get("containers", []):
        if container.get("name") == container_name:
            return container.get("exitCode")
    return None


def _release_tasks(ecs: Any, outputs: stack.StackOutputs, release_family: str, status: str) -> list[dict]:
    arns = ecs.list_tasks(cluster=outputs.cluster, family=release_family, desiredStatus=status).get("taskArns", [])
    if not arns:
        return []
    tasks = ecs.describe_tasks(cluster=outputs.cluster, tasks=arns[:100]).get("tasks", [])
    return [task for task in tasks if not str(task.get("startedBy", "")).startswith(ONE_OFF_STARTED_BY)]


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _when(task: dict[str, Any], key: str) -> dt.datetime:
    moment = task.get(key) or task.get("createdAt") or _EPOCH
    return moment.astimezone(dt.UTC) if isinstance(moment, dt.datetime) else _EPOCH
