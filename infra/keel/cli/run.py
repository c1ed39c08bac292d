"""`keel run`: a command as a one-off Fargate task, with its logs and its exit code.

Like `heroku run`, but the task is a copy of the release task: same image digest, environment,
secrets, roles, private subnets and task security group.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re

from keel.tasks import RELEASE_STARTED_BY, LogLine, StartedTask, TaskResult, TaskRunner, family_of

from . import fargate, oneoff, stack
from .console import Progress, parse_duration
from .context import Context
from .errors import KeelError, UsageError
from .signals import sigterm_as_ctrl_c
from .status import RUN_STARTED_BY

NEVER_RAN = 125  # the task never ran its container (like `docker run` failing before the command)
TIMED_OUT = 124  # like timeout(1)
INTERRUPTED = 130  # 128 + SIGINT
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Static keys in a task's environment override its task role and break ECS Exec.
_REFUSED_ENV = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"}
_SECRET_LOOKING = re.compile(r"PASSWORD|SECRET|TOKEN|PRIVATE|_KEY$", re.IGNORECASE)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = stack.command_parser(
        subparsers,
        "run",
        "run a command as a one-off task (like heroku run)",
        "Run COMMAND as a one-off Fargate task from the release task definition (same image, "
        "environment, secrets, roles and network). Progress goes to stderr, the task's log lines to "
        "stdout, and keel exits with the container's exit code (125 if the task never ran, 124 on "
        "--timeout, 130 after Ctrl-C or SIGTERM, which stop the task).",
        "example: keel run --stack staging -- python manage.py migrate",
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an extra environment variable (repeatable); NAME alone takes the value from your environment",
    )
    parser.add_argument("--cpu", type=int, help="task CPU units (256, 512, 1024, ...); needs --memory")
    parser.add_argument("--memory", type=int, help="task memory in MiB, valid for --cpu on Fargate")
    parser.add_argument("--detach", action="store_true", help="start the task, print its ARN and log location, return")
    parser.add_argument("--timeout", metavar="DURATION", help="stop the task if it runs longer than this (e.g. 30m)")
    parser.add_argument("command", nargs="*", metavar="-- COMMAND", help="the command and its arguments, after --")
    parser.set_defaults(func=command)


def command(args: argparse.Namespace, context: Context) -> int:
    argv = task_command(args.command)
    environment = parse_environment(args.env, context)
    fargate.validate(args.cpu, args.memory)
    timeout = parse_duration(args.timeout, "--timeout") if args.timeout else None
    outputs = stack.load(args, context)
    spec = oneoff.task_spec(
        outputs, argv, started_by=RUN_STARTED_BY, environment=environment, cpu=args.cpu, memory=args.memory
    )
    runner = oneoff.runner(context, outputs)
    refuse_during_release(runner, outputs)
    progress = Progress(context)
    task = runner.start(spec)
    progress.note(f"started task {task.task_id}: {' '.join(argv)}")
    if args.detach:
        return detached(task, outputs, context)
    printed = LinePrinter(context)
    try:
        with sigterm_as_ctrl_c():
            result = runner.wait(
                task, logs=oneoff.log_source(outputs), timeout=timeout,
                on_status=lambda change: progress.status(change.status), on_log=printed,
                stop_reason="keel run: --timeout reached",
            )
    except KeyboardInterrupt:
        return interrupted(runner, task, outputs, printed, progress)
    return exit_code(result, progress)


def refuse_during_release(runner: TaskRunner, outputs: stack.StackOutputs) -> None:
    """A one-off (a `migrate`, say) must not race the release gate's migrations."""
    releases = [
        task for task in runner.running_tasks(outputs.cluster, family_of(outputs.task_definition(oneoff.PROCESS)))
        if task.started_by == RELEASE_STARTED_BY
    ]
    if releases:
        raise KeelError(
            f"a release is running on {outputs.cluster}: {releases[0].describe()}",
            hint=f"wait for it (keel logs {outputs.selector} release --follow), then run your command again",
        )


def task_command(words: list[str]) -> list[str]:
    words = words[1:] if words[:1] == ["--"] else words
    if not words:
        raise UsageError("no command given", hint="put it after --, e.g. keel run --stack staging -- python manage.py migrate")
    return words


def parse_environment(pairs: list[str], context: Context) -> dict[str, str]:
    """--env NAME=VALUE (or NAME, from the local environment) as a dict, each name checked."""
    environment: dict[str, str] = {}
    for pair in pairs:
        name, has_value, value = pair.partition("=")
        if not _ENV_NAME.match(name):
            raise UsageError(f"--env {pair!r}: {name!r} is not a variable name", hint="use --env NAME=VALUE")
        if name.upper() in _REFUSED_ENV:
            raise UsageError(
                f"--env {name}: a task must not carry static AWS keys (they override its task role)",
                hint="grant the task role the access it needs instead",
            )
        if not has_value:
            if name not in os.environ:
                raise UsageError(f"--env {name}: {name} is not set in your environment", hint=f"use --env {name}=VALUE")
            value = os.environ[name]
        environment[name] = value
    secret_looking = sorted(name for name in environment if _SECRET_LOOKING.search(name))
    if secret_looking:
        context.err(
            f"keel: note: {', '.join(secret_looking)} will be readable in the task's overrides by anyone allowed "
            "ecs:DescribeTasks (about an hour) and in CloudTrail; change such values afterwards"
        )
    return environment


def detached(task: StartedTask, outputs: stack.StackOutputs, context: Context) -> int:
    """The task ARN on stdout (for scripts); where to read its logs on stderr."""
    context.out(task.task_arn)
    context.err(f"keel: logs: group {outputs.log_group(oneoff.PROCESS)}, stream {outputs.log_stream(oneoff.PROCESS, task.task_arn)}")
    context.err(f"keel: follow them with: keel logs {outputs.selector} release --task {task.task_id} --follow")
    return 0


class LinePrinter:
    """Prints each container log line on stdout, and counts them (a second wait re-reads the stream)."""

    def __init__(self, context: Context):
        self._context = context
        self.count = 0
        self.skip = 0

    def __call__(self, line: LogLine) -> None:
        if self.skip:
            self.skip -= 1
            return
        self.count += 1
        self._context.out(line.message)

    def replay_guard(self) -> None:
        """The next wait's follower starts at the head of the stream: skip what is already shown."""
        self.skip, self.count = self.count, 0


def interrupted(
    runner: TaskRunner, task: StartedTask, outputs: stack.StackOutputs, printed: LinePrinter, progress: Progress
) -> int:
    """Ctrl-C: stop the task and wait for STOPPED (a second Ctrl-C leaves it stopping)."""
    progress.note(f"Ctrl-C: stopping task {task.task_id} (press Ctrl-C again to stop waiting)")
    runner.stop(task, "keel run: interrupted by the user (Ctrl-C)")
    printed.replay_guard()
    # The second wait reports the task's status from where the first left off, not from RunTask's.
    task = dataclasses.replace(task, last_status=progress.last_status or task.last_status)
    try:
        result = runner.wait(task, logs=oneoff.log_source(outputs), on_log=printed,
                             on_status=lambda change: progress.status(change.status))
    except KeyboardInterrupt:
        progress.note(f"left task {task.task_id} stopping; `keel status {outputs.selector}` or the ECS console shows it")
        return INTERRUPTED
    code = "no exit code" if result.exit_code is None else f"exit code {result.exit_code}"
    progress.note(f"task {task.task_id} stopped ({code})")
    return INTERRUPTED


def exit_code(result: TaskResult, progress: Progress) -> int:
    """The container's exit code; 125 if it never ran; 124 if --timeout stopped it."""
    if result.timed_out:
        progress.note(f"task {result.task_id} {result.reason()}")
        return TIMED_OUT
    if result.exit_code is None:
        progress.note(f"task {result.task_id} {result.reason()}")
        return NEVER_RAN
    if result.exit_code != 0:
        progress.note(f"task {result.task_id}: {result.reason()}")
    else:
        progress.note(f"task {result.task_id} exited 0")
    return result.exit_code
