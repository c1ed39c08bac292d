"""One-off ECS Fargate tasks: start one, follow its CloudWatch log lines, wait for it, stop it.

Shared by the release gate (``keel.components.release``) and ``keel run``. The API below is
stable; both callers code against it.

Typical use::

    runner = TaskRunner.from_aws(AwsIdentity(region="eu-west-1"))  # or TaskRunner(ecs, logs, ...)
    spec = TaskSpec(
        cluster="arn:aws:ecs:...:cluster/keel-staging",
        task_definition="arn:aws:ecs:...:task-definition/keel-staging-release:7",
        container_name="release",
        subnet_ids=("subnet-1", "subnet-2"),
        security_group_ids=("sg-1",),
        command=None,                       # or ("python", "manage.py", "shell", "-c", "...")
        environment={},                     # extra plain variables for the container
        started_by="keel-release",
    )
    busy = runner.running_tasks(spec.cluster, family_of(spec.task_definition))
    result = runner.run(
        spec,
        logs=LogSource(group="/keel/staging/release", stream_prefix="keel"),
        timeout=30 * 60,                    # seconds; None waits forever
        on_status=lambda change: ...,       # StatusChange(status, elapsed, task): each status once
        on_log=lambda line: ...,            # LogLine(message, timestamp): each log line as it arrives
    )
    result.succeeded                        # exit code 0 and not timed out
    result.exit_code                        # None when the container never ran
    result.failure_message()                # one paragraph: why, plus the last log lines
    readable_line(line.message)             # a JSON log line as "LEVEL message (extras)"

Lower level, for callers that need to act between the steps (``keel run`` stops the task on
Ctrl-C): ``start(spec) -> StartedTask``, ``wait(task, ...) -> TaskResult``,
``stop(task, reason)``, ``running_tasks(cluster, family) -> list[RunningTask]``, and
``LogFollower`` for one stream.

Errors: ``TaskStartError`` when RunTask refuses (its ``failures`` or an API error),
``TaskError`` for any other AWS error; both carry a message meant for the user.

Behaviour worth knowing:

* A fast task can go from PENDING to STOPPED between two polls; the runner reports the statuses
  it saw and judges the task by its final description, never by the statuses in between.
* The log stream ``<prefix>/<container>/<task id>`` does not exist until the container writes
  its first line; the follower treats ResourceNotFoundException as "not yet" and retries.
* After STOPPED the stream is drained: polling continues until a poll brings nothing new and
  ``drain_settle`` seconds have passed (CloudWatch makes the last lines visible a little late).
* On timeout the task is stopped (StopTask with a reason) and the runner waits up to
  ``stop_grace`` seconds for STOPPED, so the result still carries the final state and lines.
  If StopTask itself fails, the result says so (``stop_error``) with the command to stop it.
* DescribeTasks errors (after botocore's retries) are tolerated for ``error_grace`` seconds;
  past that the wait raises TaskError naming the command that stops the still-running task.
* A log read error other than "not yet" (say, no logs:GetLogEvents permission) ends the
  following, not the wait: it is passed on once as a line and kept in ``log_error``.
* Clock, sleep and the boto3 clients are injectable, so tests with botocore's Stubber run in
  milliseconds. ``aws_clients(identity, "ecs", "logs")`` makes real ones acting as pulumi-aws does
  (``keel.aws_identity``: region, profile, shared files, assumed roles, endpoints; then the standard chain).
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from keel.aws_identity import AwsIdentity, AwsIdentityError

DEFAULT_STARTED_BY = "keel"
RELEASE_STARTED_BY = "keel-release"  # the release gate's tasks (keel.components.release)
STARTED_BY_MAX = 128  # RunTask's limit
STOP_REASON_MAX = 255  # StopTask's limit
_DESCRIBE_BATCH = 100  # DescribeTasks takes at most 100 tasks


class TaskError(Exception):
    """An ECS or CloudWatch Logs call failed; the message says which and what to check."""


class TaskStartError(TaskError):
    """RunTask did not start the task (a `failures` entry or an API error)."""


@dataclass(frozen=True)
class TaskSpec:
    """What to run: a task definition's container, in the stack's private network.

    cluster                  cluster name or ARN.
    task_definition          task definition ARN (or family:revision).
    container_name           the container whose exit code and log stream count.
    subnet_ids               awsvpc subnets (private; no public IP is assigned by default).
    security_group_ids       awsvpc security groups.
    command                  replaces the container's command; None keeps the task definition's.
    environment              extra plain variables for the container (never secrets).
    cpu, memory              task-level overrides (Fargate units, e.g. 1024 and 2048); None keeps.
    enable_execute_command   allow ECS Exec into the task (``keel shell``).
    started_by               recorded on the task; shows who started it in ListTasks/console.
    assign_public_ip         False: tasks reach AWS through the VPC's NAT or endpoints.
    """

    cluster: str
    task_definition: str
    container_name: str
    subnet_ids: tuple[str, ...]
    security_group_ids: tuple[str, ...]
    command: tuple[str, ...] | None = None
    environment: Mapping[str, str] = field(default_factory=dict)
    cpu: int | None = None
    memory: int | None = None
    enable_execute_command: bool = False
    started_by: str = DEFAULT_STARTED_BY
    assign_public_ip: bool = False

    def __post_init__(self) -> None:
        # Accept lists from callers (stack outputs are JSON lists) but keep the spec immutable.
        object.__setattr__(self, "subnet_ids", tuple(self.subnet_ids))
        object.__setattr__(self, "security_group_ids", tuple(self.security_group_ids))
        if self.command is not None:
            object.__setattr__(self, "command", tuple(self.command))
        object.__setattr__(self, "environment", dict(self.environment))
        for name in ("cluster", "task_definition", "container_name"):
            if not getattr(self, name):
                raise ValueError(f"TaskSpec.{name} is empty: give the {name.replace('_', ' ')} to run")
        if not self.subnet_ids:
            raise ValueError("TaskSpec.subnet_ids is empty: a Fargate task needs at least one subnet")
        if not self.security_group_ids:
            raise ValueError("TaskSpec.security_group_ids is empty: give the task security group")
        if not 0 < len(self.started_by) <= STARTED_BY_MAX:
            raise ValueError(f"TaskSpec.started_by must be 1 to {STARTED_BY_MAX} characters, got {self.started_by!r}")

    def run_task_request(self) -> dict[str, Any]:
        """The RunTask parameters for this spec (what is sent to ECS, as botocore takes them)."""
        request: dict[str, Any] = {
            "cluster": self.cluster,
            "taskDefinition": self.task_definition,
            "count": 1,
            "launchType": "FARGATE",
            "networkConfiguration": {
                "awsvpcConfiguration": {
                    "subnets": list(self.subnet_ids),
                    "securityGroups": list(self.security_group_ids),
                    "assignPublicIp": "ENABLED" if self.assign_public_ip else "DISABLED",
                }
            },
            "startedBy": self.started_by,
            "enableExecuteCommand": self.enable_execute_command,
            "propagateTags": "TASK_DEFINITION",
        }
        overrides = self._overrides()
        if overrides:
            request["overrides"] = overrides
        return request

    def _overrides(self) -> dict[str, Any]:
        container: dict[str, Any] = {}
        if self.command is not None:
            container["command"] = list(self.command)
        if self.environment:
            container["environment"] = [{"name": k, "value": str(v)} for k, v in sorted(self.environment.items())]
        overrides: dict[str, Any] = {}
        if container:
            overrides["containerOverrides"] = [{"name": self.container_name, **container}]
        if self.cpu is not None:
            overrides["cpu"] = str(self.cpu)
        if self.memory is not None:
            overrides["memory"] = str(self.memory)
        return overrides


@dataclass(frozen=True)
class LogSource:
    """Where a task's container logs go: the awslogs group and stream prefix of its task definition."""

    group: str
    stream_prefix: str

    def stream_for(self, container_name: str, task_id: str) -> str:
        """The awslogs stream name: ``<prefix>/<container>/<task id>``."""
        return f"{self.stream_prefix}/{container_name}/{task_id}"


@dataclass(frozen=True)
class StartedTask:
    """A task RunTask accepted."""

    cluster: str
    task_arn: str
    container_name: str
    started_at: float  # the runner's clock when RunTask returned
    last_status: str

    @property
    def task_id(self) -> str:
        return task_id_of(self.task_arn)


@dataclass(frozen=True)
class StatusChange:
    """A task status seen for the first time (PROVISIONING, PENDING, RUNNING, ..., STOPPED)."""

    status: str
    elapsed: float  # seconds since RunTask returned
    task: StartedTask


@dataclass(frozen=True)
class LogLine:
    message: str
    timestamp: int  # milliseconds since the epoch, as CloudWatch records it


@dataclass(frozen=True)
class RunningTask:
    """A task of a family whose desired status is RUNNING (it may still be PENDING)."""

    task_arn: str
    last_status: str
    started_by: str | None
    created_at: Any  # datetime from botocore, or None
    task_definition_arn: str

    @property
    def task_id(self) -> str:
        return task_id_of(self.task_arn)

    def describe(self) -> str:
        """One line: which task, its status, who started it and when."""
        who = f" started by {self.started_by}" if self.started_by else ""
        when = f" at {self.created_at:%Y-%m-%d %H:%M:%S %Z}".rstrip() if self.created_at else ""
        return f"task {self.task_id} ({self.last_status}){who}{when}"


@dataclass(frozen=True)
class TaskResult:
    """How a task ended."""

    task_arn: str
    container_name: str
    last_status: str
    exit_code: int | None  # None when the container never ran (or ECS never reported it)
    stop_code: str | None
    stopped_reason: str | None
    container_reason: str | None
    timed_out: bool
    log_tail: tuple[str, ...]
    elapsed: float  # seconds from RunTask to the end of the wait
    log_stream: str | None = None  # group/stream the lines came from, when logs were followed
    log_stream_found: bool = False
    log_error: str | None = None  # why following the logs stopped early, if it did
    stop_error: str | None = None  # why StopTask failed after a timeout (the task may still run)
    cluster: str = ""

    @property
    def task_id(self) -> str:
        return task_id_of(self.task_arn)

    @property
    def succeeded(self) -> bool:
        return self.exit_code == 0 and not self.timed_out

    def reason(self) -> str:
        """Why the task did not succeed, in one sentence (empty when it succeeded)."""
        if self.succeeded:
            return ""
        stop = _join_stop(self.stop_code, self.stopped_reason, self.container_reason)
        if self.timed_out and self.stop_error:
            return (
                f"timed out after {format_elapsed(self.elapsed)} and could not be stopped ({self.stop_error}); "
                f"it may still be running: aws ecs stop-task --cluster {self.cluster} --task {self.task_arn}"
            )
        if self.timed_out:
            return f"timed out after {format_elapsed(self.elapsed)} and was stopped ({stop or self.last_status})"
        if self.exit_code is None:
            return f"never ran its container {self.container_name!r}: {stop or 'ECS gave no reason'}"
        return f"container {self.container_name!r} exited with code {self.exit_code}" + (f" ({stop})" if stop else "")

    def failure_message(self) -> str:
        """The reason, then the last log lines (or why there are none)."""
        lines = [f"task {self.task_id} {self.reason()}."]
        if self.log_tail:
            lines.append(f"Last {len(self.log_tail)} log lines ({self.log_stream}):")
            lines.extend(f"  | {text}" for line in self.log_tail for text in readable_line(line).splitlines())
        elif self.log_stream and not self.log_stream_found:
            lines.append(f"No log lines: the stream {self.log_stream} was never created.")
        elif self.log_stream:
            lines.append(f"No log lines in {self.log_stream}.")
        if self.log_error:
            lines.append(f"Log lines stopped early: {self.log_error}")
        return "\n".join(lines)


def aws_clients(identity: AwsIdentity | None, *services: str) -> list[Any]:
    """boto3 clients acting as the pulumi-aws provider would (see ``keel.aws_identity``); the
    standard credential chain when the identity is empty. Raises AwsIdentityError as a TaskError."""
    try:
        return (identity or AwsIdentity()).clients(*services)
    except AwsIdentityError as error:
        raise TaskError(str(error)) from None


def task_id_of(task_arn: str) -> str:
    """The task id: the last segment of its ARN (works for old and new ARN formats)."""
    return task_arn.rsplit("/", 1)[-1]


def family_of(task_definition: str) -> str:
    """The family of a task definition ARN, ``family:revision`` or bare family."""
    name = task_definition.rsplit("/", 1)[-1] if task_definition.startswith("arn:") else task_definition
    return name.split(":", 1)[0]


def format_elapsed(seconds: float) -> str:
    """12s, 3m05s, 1h02m."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


_ENTRY_KEYS_SHOWN_ELSEWHERE = {"timestamp", "time", "level", "logger", "message", "exception", "stack"}


def readable_line(message: str) -> str:
    """A JSON log line (the app's LOG_FORMAT=json) as ``LEVEL message (key=value, ...)`` with
    any exception below it; any other line is returned unchanged."""
    text = message.strip()
    if not (text.startswith("{") and text.endswith("}")):
        return message
    try:
        entry = json.loads(text)
    except ValueError:
        return message
    if not isinstance(entry, dict) or "message" not in entry:
        return message
    extras = [
        f"{key}={value}" for key, value in entry.items()
        if key not in _ENTRY_KEYS_SHOWN_ELSEWHERE and value not in (None, "", "-")
    ]
    head = f"{str(entry.get('level', '')):<7} {entry['message']}".strip()
    if extras:
        head += f"  ({', '.join(extras)})"
    details = [str(entry[key]).rstrip() for key in ("exception", "stack") if entry.get(key)]
    return "\n".join([head, *details])


def _join_stop(stop_code: str | None, stopped_reason: str | None, container_reason: str | None) -> str:
    parts = []
    if stop_code:
        parts.append(f"stopCode {stop_code}")
    if stopped_reason:
        parts.append(f"stoppedReason: {stopped_reason}")
    if container_reason and container_reason != stopped_reason:
        parts.append(f"container reason: {container_reason}")
    return "; ".join(parts)


def _error_text(error: Exception) -> str:
    if isinstance(error, ClientError):
        info = error.response.get("Error", {})
        return f"{info.get('Code', 'Error')}: {info.get('Message', '')}".rstrip(": ")
    return str(error)


def _error_code(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Code", "")


class LogFollower:
    """Reads one CloudWatch log stream from its head, returning only lines not returned before.

    The stream may not exist yet: until it does, ``poll`` returns nothing and ``found`` is False.
    """

    def __init__(self, client: Any, group: str, stream: str, max_pages: int = 50):
        self._client = client
        self.group = group
        self.stream = stream
        self._max_pages = max_pages
        self._token: str | None = None
        self.found = False

    @property
    def location(self) -> str:
        return f"{self.group}:{self.stream}"

    def poll(self) -> list[LogLine]:
        """Every line written since the last poll (up to max_pages pages), oldest first."""
        lines: list[LogLine] = []
        for _ in range(self._max_pages):
            page = self._page()
            if page is None:
                break
            for event in page.get("events", []):
                for text in str(event.get("message", "")).splitlines() or [""]:
                    lines.append(LogLine(text, int(event.get("timestamp", 0))))
            token = page.get("nextForwardToken")
            # GetLogEvents returns the token it was given once the end of the stream is reached;
            # an empty page with a new token can still be followed by more events.
            reached_end = token is None or token == self._token
            self._token = token or self._token
            if reached_end:
                break
        return lines

    def _page(self) -> dict[str, Any] | None:
        request: dict[str, Any] = {"logGroupName": self.group, "logStreamName": self.stream, "startFromHead": True}
        if self._token:
            request["nextToken"] = self._token
        try:
            page = self._client.get_log_events(**request)
        except ClientError as error:
            if _error_code(error) == "ResourceNotFoundException":
                return None  # the container has not written its first line yet
            raise TaskError(f"reading log stream {self.location} failed: {_error_text(error)}") from None
        except BotoCoreError as error:
            raise TaskError(f"reading log stream {self.location} failed: {error}") from None
        self.found = True
        return page


class TaskRunner:
    """Runs one-off tasks with injected clients, clock and sleep.

    poll_interval   seconds between DescribeTasks (and log) polls while the task runs.
    stop_grace      seconds to wait for STOPPED after stopping a timed-out task.
    drain_settle    seconds after STOPPED during which late log lines are still awaited.
    drain_timeout   most seconds spent draining logs after STOPPED.
    error_grace     seconds DescribeTasks may keep failing (after botocore's own retries) before
                    the wait gives up; a network blip must not abandon a running migration.
    missing_grace   seconds a just-started task may be MISSING from DescribeTasks (eventual
                    consistency) before it is reported as lost.
    tail_size       how many last log lines a result keeps.
    """

    def __init__(
        self,
        ecs: Any,
        logs: Any = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        poll_interval: float = 3.0,
        stop_grace: float = 120.0,
        drain_settle: float = 5.0,
        drain_timeout: float = 30.0,
        missing_grace: float = 30.0,
        error_grace: float = 120.0,
        tail_size: int = 30,
    ):
        self.ecs = ecs
        self.logs = logs
        self.clock = clock
        self.sleep = sleep
        self.poll_interval = poll_interval
        self.stop_grace = stop_grace
        self.drain_settle = drain_settle
        self.drain_timeout = drain_timeout
        self.missing_grace = missing_grace
        self.error_grace = error_grace
        self.tail_size = tail_size

    @classmethod
    def from_aws(cls, identity: AwsIdentity | None = None, **options: Any) -> TaskRunner:
        """A runner acting as pulumi-aws does (``aws_clients``)."""
        ecs, logs = aws_clients(identity, "ecs", "logs")
        return cls(ecs, logs, **options)

    # --- starting and stopping ---------------------------------------------------------

    def start(self, spec: TaskSpec) -> StartedTask:
        """RunTask; raises TaskStartError with ECS's reason when no task was started."""
        try:
            response = self.ecs.run_task(**spec.run_task_request())
        except (ClientError, BotoCoreError) as error:
            raise TaskStartError(
                f"RunTask of {spec.task_definition} on {spec.cluster} failed: {_error_text(error)}"
            ) from None
        failures = response.get("failures") or []
        tasks = response.get("tasks") or []
        if failures or not tasks:
            details = "; ".join(
                " ".join(filter(None, [f.get("reason"), f"({f['detail']})" if f.get("detail") else None, f.get("arn")]))
                for f in failures
            )
            raise TaskStartError(
                f"ECS did not start {spec.task_definition} on {spec.cluster}: {details or 'no task and no reason returned'}"
            )
        task = tasks[0]
        return StartedTask(
            cluster=spec.cluster,
            task_arn=task["taskArn"],
            container_name=spec.container_name,
            started_at=self.clock(),
            last_status=task.get("lastStatus", "PROVISIONING"),
        )

    def stop(self, task: StartedTask, reason: str) -> None:
        """StopTask with a reason shown in the console and in the task's stoppedReason."""
        try:
            self.ecs.stop_task(cluster=task.cluster, task=task.task_arn, reason=reason[:STOP_REASON_MAX])
        except (ClientError, BotoCoreError) as error:
            raise TaskError(f"StopTask of {task.task_arn} failed: {_error_text(error)}") from None

    def running_tasks(self, cluster: str, family: str) -> list[RunningTask]:
        """Tasks of this family whose desired status is RUNNING (including ones still PENDING)."""
        try:
            arns = [
                arn
                for page in self.ecs.get_paginator("list_tasks").paginate(
                    cluster=cluster, family=family, desiredStatus="RUNNING"
                )
                for arn in page.get("taskArns", [])
            ]
            described = self._describe_many(cluster, arns)
        except (ClientError, BotoCoreError) as error:
            raise TaskError(f"listing running tasks of {family} on {cluster} failed: {_error_text(error)}") from None
        return [
            RunningTask(
                task_arn=t["taskArn"],
                last_status=t.get("lastStatus", "UNKNOWN"),
                started_by=t.get("startedBy"),
                created_at=t.get("createdAt"),
                task_definition_arn=t.get("taskDefinitionArn", ""),
            )
            for t in described
            if t.get("lastStatus") != "STOPPED"
        ]

    def _describe_many(self, cluster: str, arns: list[str]) -> list[dict[str, Any]]:
        described = []
        for i in range(0, len(arns), _DESCRIBE_BATCH):
            response = self.ecs.describe_tasks(cluster=cluster, tasks=arns[i : i + _DESCRIBE_BATCH])
            described.extend(response.get("tasks", []))
        return described

    # --- waiting -----------------------------------------------------------------------

    def run(
        self,
        spec: TaskSpec,
        *,
        logs: LogSource | None = None,
        timeout: float | None = None,
        on_status: Callable[[StatusChange], None] | None = None,
        on_log: Callable[[LogLine], None] | None = None,
    ) -> TaskResult:
        """Start the task and wait for it (see ``wait``)."""
        task = self.start(spec)
        return self.wait(task, logs=logs, timeout=timeout, on_status=on_status, on_log=on_log)

    def wait(
        self,
        task: StartedTask,
        *,
        logs: LogSource | None = None,
        timeout: float | None = None,
        on_status: Callable[[StatusChange], None] | None = None,
        on_log: Callable[[LogLine], None] | None = None,
        stop_reason: str | None = None,
    ) -> TaskResult:
        """Poll until STOPPED, passing each new status and log line to the callbacks.

        With a timeout (seconds since RunTask), a task still running then is stopped with
        ``stop_reason`` and the result has ``timed_out`` set.
        """
        watch = _Watch(self, task, logs, on_status, on_log)
        watch.report(task.last_status)
        deadline = None if timeout is None else task.started_at + timeout
        timed_out = False
        give_up_at: float | None = None
        stop_error: str | None = None
        failing_since: float | None = None
        while True:
            try:
                description = self._describe(task)
                failing_since = None
            except TaskError as error:
                failing_since = self.clock() if failing_since is None else failing_since
                if self.clock() - failing_since >= self.error_grace:
                    raise TaskError(
                        f"{error} (for {format_elapsed(self.error_grace)}); the task may still be running: "
                        f"aws ecs stop-task --cluster {task.cluster} --task {task.task_arn}"
                    ) from None
                self.sleep(self.poll_interval)
                continue
            if description is not None:
                watch.report(description.get("lastStatus", "UNKNOWN"))
            watch.read_logs()
            if description is not None and description.get("lastStatus") == "STOPPED":
                break
            now = self.clock()
            if description is None and now - task.started_at > self.missing_grace:
                raise TaskError(f"task {task.task_arn} is missing from cluster {task.cluster}: ECS no longer knows it")
            if not timed_out and deadline is not None and now >= deadline:
                timed_out = True
                give_up_at = now + self.stop_grace
                try:
                    self.stop(task, stop_reason or f"keel: timed out after {format_elapsed(timeout or 0)}")
                except TaskError as error:
                    stop_error = str(error)
                    break  # it will not stop by our hand: say so rather than wait in vain
            elif give_up_at is not None and now >= give_up_at:
                break  # stopped but not yet STOPPED; report what we know
            self.sleep(self.poll_interval)
        watch.drain(container_ran=_container_ran(description, task.container_name))
        return _result(task, description, timed_out, watch, self.clock() - task.started_at, stop_error)

    def _describe(self, task: StartedTask) -> dict[str, Any] | None:
        """The task's description, or None while DescribeTasks reports it MISSING."""
        try:
            response = self.ecs.describe_tasks(cluster=task.cluster, tasks=[task.task_arn])
        except (ClientError, BotoCoreError) as error:
            raise TaskError(f"DescribeTasks of {task.task_arn} failed: {_error_text(error)}") from None
        tasks = response.get("tasks") or []
        return tasks[0] if tasks else None


class _Watch:
    """Per-wait state: which statuses were reported, the log follower and the tail."""

    def __init__(
        self,
        runner: TaskRunner,
        task: StartedTask,
        logs: LogSource | None,
        on_status: Callable[[StatusChange], None] | None,
        on_log: Callable[[LogLine], None] | None,
    ):
        self.runner = runner
        self.task = task
        self.on_status = on_status
        self.on_log = on_log
        self.last_status: str | None = None
        self.tail: deque[str] = deque(maxlen=runner.tail_size)
        self.log_error: str | None = None
        self.follower = None
        if logs is not None and runner.logs is not None:
            self.follower = LogFollower(runner.logs, logs.group, logs.stream_for(task.container_name, task.task_id))

    def report(self, status: str) -> None:
        if status == self.last_status:
            return
        self.last_status = status
        if self.on_status:
            self.on_status(StatusChange(status, self.runner.clock() - self.task.started_at, self.task))

    def read_logs(self) -> int:
        """Pass new lines on; how many there were. A log read error ends the following (the
        task still matters more than its lines) and is reported once, as a line and in the result."""
        if self.follower is None or self.log_error:
            return 0
        try:
            lines = self.follower.poll()
        except TaskError as error:
            self.log_error = str(error)
            lines = [LogLine(f"(keel: no more log lines: {error})", 0)]
            self._emit(lines, keep=False)
            return 0
        self._emit(lines)
        return len(lines)

    def _emit(self, lines: Iterable[LogLine], keep: bool = True) -> None:
        for line in lines:
            if keep:
                self.tail.append(line.message)
            if self.on_log:
                self.on_log(line)

    def drain(self, container_ran: bool) -> None:
        """Read the last lines after STOPPED: until a quiet poll after drain_settle, bounded."""
        if self.follower is None or self.log_error:
            return
        runner = self.runner
        began = runner.clock()
        while True:
            got = self.read_logs()
            waited = runner.clock() - began
            if not container_ran and not self.follower.found:
                return  # the container never ran, so it wrote nothing
            if (got == 0 and waited >= runner.drain_settle) or waited >= runner.drain_timeout:
                return
            if got == 0:
                runner.sleep(min(1.0, runner.poll_interval))


def _container(description: dict[str, Any] | None, name: str) -> dict[str, Any]:
    for container in (description or {}).get("containers", []):
        if container.get("name") == name:
            return container
    return {}


def _container_ran(description: dict[str, Any] | None, name: str) -> bool:
    if description is None:
        return False
    return _container(description, name).get("exitCode") is not None or bool(description.get("startedAt"))


def _result(
    task: StartedTask,
    description: dict[str, Any] | None,
    timed_out: bool,
    watch: _Watch,
    elapsed: float,
    stop_error: str | None,
) -> TaskResult:
    description = description or {}
    container = _container(description, task.container_name)
    follower = watch.follower
    return TaskResult(
        task_arn=task.task_arn,
        container_name=task.container_name,
        last_status=description.get("lastStatus", "UNKNOWN"),
        exit_code=container.get("exitCode"),
        stop_code=description.get("stopCode"),
        stopped_reason=description.get("stoppedReason"),
        container_reason=container.get("reason"),
        timed_out=timed_out,
        log_tail=tuple(watch.tail),
        elapsed=elapsed,
        log_stream=follower.location if follower else None,
        log_stream_found=bool(follower and follower.found),
        log_error=watch.log_error,
        stop_error=stop_error,
        cluster=task.cluster,
    )


__all__ = [
    "RELEASE_STARTED_BY",
    "AwsIdentity",
    "LogFollower",
    "LogLine",
    "LogSource",
    "RunningTask",
    "StartedTask",
    "StatusChange",
    "TaskError",
    "TaskResult",
    "TaskRunner",
    "TaskSpec",
    "TaskStartError",
    "aws_clients",
    "family_of",
    "format_elapsed",
    "readable_line",
    "task_id_of",
]
