"""One-off tasks from the stack outputs: a TaskSpec copying the release task, and its runner.

Same image digest, environment, secrets and roles as the release (they live in the task
definition); the stack's private subnets and task security group; only the command, extra
environment and size are overridden. The running itself is keel.tasks, shared with the
release gate.
"""

from __future__ import annotations

from keel.tasks import LogSource, TaskRunner, TaskSpec

from .context import Context
from .stack import StackOutputs

PROCESS = "release"  # one-off tasks are copies of the release task: the app image, no server
POLL_SECONDS = 2.0


def task_spec(
    outputs: StackOutputs,
    command: list[str],
    *,
    started_by: str,
    environment: dict[str, str] | None = None,
    cpu: int | None = None,
    memory: int | None = None,
    enable_exec: bool = False,
) -> TaskSpec:
    return TaskSpec(
        cluster=outputs.cluster,
        task_definition=outputs.task_definition(PROCESS),
        container_name=outputs.container(PROCESS),
        subnet_ids=tuple(outputs.subnets),
        security_group_ids=(outputs.security_group,),
        command=tuple(command),
        environment=environment or {},
        cpu=cpu,
        memory=memory,
        enable_execute_command=enable_exec,
        started_by=started_by,
        assign_public_ip=outputs.assign_public_ip,
    )


def log_source(outputs: StackOutputs) -> LogSource:
    return LogSource(group=outputs.log_group(PROCESS), stream_prefix=outputs.log_stream_prefix)


def runner(context: Context, outputs: StackOutputs) -> TaskRunner:
    return TaskRunner(
        context.client("ecs", outputs.region),
        context.client("logs", outputs.region),
        clock=context.clock,
        sleep=context.sleep,
        poll_interval=POLL_SECONDS,
    )
