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
RUN_STARTED_BY = "keel-run"
SHELL_STARTED_BY = "keel-shell"
ONE_OFF_STARTED_BY = (RUN_STARTED_BY, SHELL_STARTED_BY)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = stack.command_parser(
        subparsers,
        "status",
        "show the URL, the services, their last deployment and the last release",
        "Show the stack's URL, each service's desired and running task counts and task "
        "definition, the state of its last deployment, the last release task, and any keel run or "
        "keel shell task still running.",
    )
    parser.set_defaults(func=command)


def command(args: argparse.Namespace, context: Context) -> int:
    outputs = stack.load(args, context)
    ecs = context.client("ecs", outputs.region)
    context.out(f"stack    {outputs.name}")
    context.out(f"url      {outputs.url or '(not exported)'}")
    context.out(f"image    {outputs.values.get(out.IMAGE_REF) or '(not exported)'}")
    context.out(f"dashboard {outputs.values.get(out.DASHBOARD_URL) or '(none: keel:dashboard is off)'}")
    context.out("")
    for line in service_table(ecs, outputs):
        context.out(line)
    context.out("")
    running = family_tasks(ecs, outputs, "RUNNING")
    context.out(f"release  {last_release(ecs, outputs, running)}")
    context.out(f"one-offs {one_offs(running)}")
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


def last_release(ecs: Any, outputs: stack.StackOutputs, running: list[dict]) -> str:
    """The newest release-family task that is not a keel one-off: running now, or its outcome."""
    releases = [task for task in running if not is_one_off(task)]
    if releases:
        newest = max(releases, key=lambda task: _when(task, "createdAt"))
        return f"running now: task {task_id_of(newest['taskArn'])}, {newest.get('lastStatus')}"
    stopped = [task for task in family_tasks(ecs, outputs, "STOPPED") if not is_one_off(task)]
    if not stopped:
        family = family_of(outputs.task_definition("release"))
        return f"none in the last hour (ECS keeps stopped tasks of family {family} about an hour)"
    newest = max(stopped, key=lambda task: _when(task, "stoppedAt"))
    return describe_outcome(newest, outputs.container("release"))


def one_offs(running: list[dict]) -> str:
    """keel run / keel shell tasks still running: a forgotten console also holds back releases."""
    tasks = sorted((task for task in running if is_one_off(task)), key=lambda task: _when(task, "createdAt"))
    if not tasks:
        return "none running"
    return "; ".join(
        f"task {task_id_of(task['taskArn'])} ({task.get('startedBy')}, {task.get('lastStatus')}, "
        f"since {_when(task, 'createdAt'):%Y-%m-%dT%H:%M:%SZ})"
        for task in tasks
    )


def is_one_off(task: dict[str, Any]) -> bool:
    return str(task.get("startedBy", "")).startswith(ONE_OFF_STARTED_BY)


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


def family_tasks(ecs: Any, outputs: stack.StackOutputs, desired_status: str) -> list[dict]:
    """The release family's tasks (releases and keel one-offs) with this desired status."""
    family = family_of(outputs.task_definition("release"))
    arns = ecs.list_tasks(cluster=outputs.cluster, family=family, desiredStatus=desired_status).get("taskArns", [])
    if not arns:
        return []
    return ecs.describe_tasks(cluster=outputs.cluster, tasks=arns[:100]).get("tasks", [])


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _when(task: dict[str, Any], key: str) -> dt.datetime:
    moment = task.get(key) or task.get("createdAt") or _EPOCH
    return moment.astimezone(dt.UTC) if isinstance(moment, dt.datetime) else _EPOCH
