"""`keel shell`: an interactive shell in a console copy of the release task, through ECS Exec."""

from __future__ import annotations

import argparse
from typing import Any

from keel.tasks import task_id_of

from . import oneoff, stack
from .console import Progress, parse_duration
from .context import Context
from .errors import KeelError
from .oneoff import PROCESS, runner, task_spec
from .signals import ctrl_c_for_the_child, sigterm_as_ctrl_c
from .status import SHELL_STARTED_BY

AWS_CLI_INSTALL = "https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html"
PLUGIN_INSTALL = (
    "https://docs.aws.amazon.com/systems-manager/latest/userguide/session-manager-working-with-install-plugin.html"
)
EXEC_AGENT = "ExecuteCommandAgent"
START_TIMEOUT_SECONDS = 600  # a Fargate task plus the SSM agent normally takes 30-90 s


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = stack.command_parser(
        subparsers,
        "shell",
        "open an interactive shell in a one-off task (ECS Exec)",
        "Start a console task from the release task definition (same image, environment, "
        "secrets and network) with ECS Exec enabled, open an interactive shell in it with "
        "`aws ecs execute-command`, and stop it when the shell ends. Needs the AWS CLI and the "
        "Session Manager plugin.",
    )
    parser.add_argument(
        "--command", default="/bin/sh", help="what to run interactively (default /bin/sh), e.g. 'python manage.py shell'"
    )
    parser.add_argument(
        "--timeout",
        default="1h",
        metavar="DURATION",
        help="the console task stops itself after this long, even if keel or the shell dies (default 1h)",
    )
    parser.set_defaults(func=command)


def command(args: argparse.Namespace, context: Context) -> int:
    lifetime = parse_duration(args.timeout, "--timeout")
    check_local_tools(context)
    outputs = stack.load(args, context)
    check_exec_enabled(outputs)
    tasks = runner(context, outputs)
    check_task_definition(tasks.ecs, outputs)
    progress = Progress(context)
    # The container only sleeps: the shell is a second process ECS Exec starts next to it.
    # When the sleep ends the task stops, so a lost keel cannot leave a console running forever.
    spec = task_spec(outputs, ["sleep", str(lifetime)], started_by=SHELL_STARTED_BY, enable_exec=True)
    task = tasks.start(spec)
    progress.note(f"started console task {task.task_id} (it stops itself after {args.timeout})")
    progress.note("while it runs, a release (pulumi up) refuses to start: exit the shell when done")
    try:
        with sigterm_as_ctrl_c():
            wait_until_exec_ready(tasks.ecs, outputs, task.task_arn, context, progress)
            progress.note(f"opening `{args.command}`; exit the shell to stop the task")
            with ctrl_c_for_the_child():
                result = context.run_process(exec_command(outputs, task.task_arn, args.command), check=False)
        return result.returncode
    finally:
        tasks.stop(task, "keel shell ended")
        progress.note(f"stopped console task {task.task_id}")


def check_local_tools(context: Context) -> None:
    if context.which("aws") is None:
        raise KeelError(
            "keel shell needs the AWS CLI, and `aws` is not on PATH", hint=f"install AWS CLI v2: {AWS_CLI_INSTALL}"
        )
    if context.which("session-manager-plugin") is None:
        raise KeelError(
            "keel shell needs the AWS Session Manager plugin, and `session-manager-plugin` is not on PATH",
            hint=f"install it: {PLUGIN_INSTALL}",
        )


def check_exec_enabled(outputs: stack.StackOutputs) -> None:
    if not outputs.exec_enabled:
        raise KeelError(
            f"ECS Exec is not enabled on stack {outputs.name!r} (stack output execEnabled is not true)",
            hint="enable exec in the stack's config and run `pulumi up`, or use `keel run` for non-interactive work",
        )


def check_task_definition(ecs: Any, outputs: stack.StackOutputs) -> None:
    """The two task-definition faults that make ECS Exec fail only after the task has started."""
    definition = ecs.describe_task_definition(taskDefinition=outputs.task_definition(PROCESS))["taskDefinition"]
    if not definition.get("taskRoleArn"):
        raise KeelError(
            f"the release task definition {definition.get('family', '')} has no task role, which ECS Exec needs",
            hint="deploy a stack version that gives tasks a role allowing ssmmessages:* (pulumi up)",
        )
    container = next(
        (c for c in definition.get("containerDefinitions", []) if c.get("name") == outputs.container(PROCESS)), {}
    )
    static_keys = sorted(
        e["name"] for e in container.get("environment", []) if e.get("name") in {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
    )
    if static_keys:
        raise KeelError(
            f"the release container sets {', '.join(static_keys)}, which stops ECS Exec's agent from connecting",
            hint="remove static AWS keys from the task environment; the task role gives the app its AWS access",
        )


def wait_until_exec_ready(
    ecs: Any, outputs: stack.StackOutputs, task_arn: str, context: Context, progress: Progress
) -> None:
    """Returns once the task RUNS and its ExecuteCommandAgent is RUNNING (exec fails before that)."""
    cluster, container_name = outputs.cluster, outputs.container(PROCESS)
    deadline = context.clock() + START_TIMEOUT_SECONDS
    while True:
        task = ecs.describe_tasks(cluster=cluster, tasks=[task_arn])["tasks"][0]
        status = task.get("lastStatus", "UNKNOWN")
        agent = exec_agent_status(task, container_name)
        progress.status(status if status != "RUNNING" else f"RUNNING, exec agent {agent}")
        if status == "STOPPED":
            raise KeelError(
                f"the console task stopped before the shell opened: {task.get('stopCode', 'no stopCode')}: "
                f"{task.get('stoppedReason', 'no reason given')}",
                hint=f"`keel logs {outputs.selector} release --task {task_id_of(task_arn)}` "
                "shows what it printed",
            )
        if status == "RUNNING" and agent == "RUNNING":
            return
        if context.clock() > deadline:
            raise KeelError(
                f"the console task was not ready for a shell after {START_TIMEOUT_SECONDS}s (status {status}, "
                f"exec agent {agent})",
                hint="check that the task role allows ssmmessages:* and that the subnets reach SSM",
            )
        context.sleep(oneoff.POLL_SECONDS)


def exec_agent_status(task: dict[str, Any], container_name: str) -> str:
    for container in task.get("containers", []):
        if container.get("name") != container_name:
            continue
        for agent in container.get("managedAgents", []):
            if agent.get("name") == EXEC_AGENT:
                return agent.get("lastStatus", "PENDING")
    return "PENDING"


def exec_command(outputs: stack.StackOutputs, task_arn: str, shell_command: str) -> list[str]:
    return [
        "aws", "ecs", "execute-command",
        "--region", outputs.region,
        "--cluster", outputs.cluster,
        "--task", task_arn,
        "--container", outputs.container(PROCESS),
        "--interactive",
        "--command", shell_command,
    ]
