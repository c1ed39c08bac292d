"""The release gate: run the `release` task (migrations) inside `pulumi up`, before any service changes.

``Release`` is a ComponentResource around one dynamic resource whose provider (plain Python and
boto3, see ``ReleaseProvider``) does, on create and update only:

1. refuse if a task of the release task definition's family is already running (ListTasks), and
   say which one and how to stop it;
2. RunTask the release task definition (same image digest, environment, secrets, subnets and
   security group as ``web``: the stack builds both from one container template);
3. stream the task's CloudWatch log lines into the ``pulumi up`` output as they arrive;
4. succeed only if the ``release`` container exits 0. Otherwise the update fails with one
   message: the exit code (or stopCode and stoppedReason for a task that never started) and the
   last log lines. A timeout (``timeout_minutes``, default 30) stops the task and fails.

``web``, ``worker`` and ``beat`` depend on it, so a failed release changes no service: the old
version keeps serving.

When it runs: ``diff`` reports a change only when ``task_definition_arn`` changes (a new image
digest or new configuration registers a new revision), so other input changes never re-run it.
``pulumi preview`` calls only ``check`` and ``diff``, which make no AWS call; the engine does not
call ``create``/``update`` during a preview for a provider that, like Pulumi's Python dynamic
provider, does not declare preview support. A failed release leaves the previous state, so the
next ``pulumi up`` tries again.

Output: the provider process has no engine connection, so ``pulumi.log.info`` writes
``info: ...`` lines to the provider's stderr, which the engine forwards line by line as
diagnostics (shown live, and under "Diagnostics" at the end). Log lines are prefixed
``release |``.

Credentials: the gate acts as the same AWS identity as pulumi-aws: ``aws`` carries the provider's
region, profile, shared files and endpoints, ``aws_secrets`` the static keys and roles
(``keel.aws_identity``; a Pulumi secret, encrypted in the state), then boto3's
standard chain (environment variables, SSO, instance roles) applies, as it does for pulumi-aws.

The provider is serialized with dill into the stack state and loaded by the dynamic-provider
process; it holds no clients or closures (they are created in that process), and its class is
imported from this module, which the project's virtualenv provides.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
from botocore.exceptions import BotoCoreError
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, DiffResult, ResourceProvider, UpdateResult

from keel.aws_identity import AwsIdentity
from keel.components import PACKAGE
from keel.tasks import (
    RELEASE_STARTED_BY,
    LogLine,
    LogSource,
    StatusChange,
    TaskError,
    TaskRunner,
    TaskSpec,
    family_of,
    format_elapsed,
    readable_line,
)

STARTED_BY = RELEASE_STARTED_BY
NOTHING_CHANGED = (
    "No service was changed (web, worker and beat wait for a successful release); "
    "the version already serving keeps serving."
)
DEFAULT_TIMEOUT_MINUTES = 30
MAX_TIMEOUT_MINUTES = 24 * 60
# The value Pulumi puts in a property that is not known yet (preview of a changed input).
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
TASK_DEFINITION_ARN = re.compile(r"^arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:task-definition/[A-Za-z0-9_-]+:\d+$")


class ReleaseFailed(Exception):
    """The release did not succeed; the message is what the user reads in `pulumi up`."""


def is_unknown(value: Any) -> bool:
    """True for a property Pulumi does not know yet (preview), including inside lists."""
    if isinstance(value, list | tuple):
        return any(is_unknown(item) for item in value)
    return value == UNKNOWN


def say(message: str, error: bool = False) -> None:
    """Lines into the `pulumi up` output (see the module docstring for the channel)."""
    log = pulumi.log.error if error else pulumi.log.info
    for line in message.splitlines() or [""]:
        log(line)
    sys.stderr.flush()


@dataclass(kw_only=True)
class ReleaseArgs:
    """Inputs of the release gate.

    cluster_arn          the ECS cluster.
    task_definition_arn  the release task definition; a new ARN (revision) re-runs the release.
    container_name       the container whose exit code decides (default "release").
    subnet_ids           the subnets the task runs in (same as web: private, or public with natGateways none).
    assign_public_ip     True only with natGateways none: the task reaches AWS through its public IP.
    security_group_ids   the task security group (same as web).
    log_group_name       the release container's awslogs group.
    log_stream_prefix    its awslogs-stream-prefix (streams are PREFIX/CONTAINER/TASK_ID).
    aws                  the pulumi-aws provider's identity settings (stack config aws:*).
    timeout_minutes      the task is stopped and the update fails after this long (default 30).
    """

    cluster_arn: pulumi.Input[str]
    task_definition_arn: pulumi.Input[str]
    subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]]
    security_group_ids: pulumi.Input[Sequence[pulumi.Input[str]]]
    log_group_name: pulumi.Input[str]
    log_stream_prefix: pulumi.Input[str]
    aws: AwsIdentity = field(default_factory=AwsIdentity)
    container_name: pulumi.Input[str] = "release"
    assign_public_ip: bool = False
    timeout_minutes: pulumi.Input[int] = DEFAULT_TIMEOUT_MINUTES


@dataclass(frozen=True)
class ReleaseRequest:
    """The resource's properties as the provider receives them, typed."""

    cluster_arn: str
    task_definition_arn: str
    container_name: str
    subnet_ids: tuple[str, ...]
    security_group_ids: tuple[str, ...]
    log_group_name: str
    log_stream_prefix: str
    aws: AwsIdentity
    timeout_minutes: int
    assign_public_ip: bool = False

    @classmethod
    def from_props(cls, props: dict[str, Any]) -> ReleaseRequest:
        return cls(
            cluster_arn=props["cluster_arn"],
            task_definition_arn=props["task_definition_arn"],
            container_name=props.get("container_name") or "release",
            subnet_ids=tuple(props.get("subnet_ids") or ()),
            security_group_ids=tuple(props.get("security_group_ids") or ()),
            log_group_name=props["log_group_name"],
            log_stream_prefix=props["log_stream_prefix"],
            aws=identity_from_props(props),
            timeout_minutes=int(props.get("timeout_minutes") or DEFAULT_TIMEOUT_MINUTES),
            assign_public_ip=bool(props.get("assign_public_ip")),
        )

    def task_spec(self) -> TaskSpec:
        return TaskSpec(
            cluster=self.cluster_arn,
            task_definition=self.task_definition_arn,
            container_name=self.container_name,
            subnet_ids=self.subnet_ids,
            security_group_ids=self.security_group_ids,
            started_by=STARTED_BY,
            assign_public_ip=self.assign_public_ip,
        )

    def log_source(self) -> LogSource:
        return LogSource(self.log_group_name, self.log_stream_prefix)


def check_failures(props: dict[str, Any]) -> list[CheckFailure]:
    """What is wrong with the inputs, each naming the property and the fix (unknowns pass)."""
    failures = []

    def known(key: str) -> Any:
        value = props.get(key)
        return None if is_unknown(value) else value

    for key in ("cluster_arn", "container_name", "log_group_name", "log_stream_prefix"):
        if key in props and not is_unknown(props[key]) and not props[key]:
            failures.append(CheckFailure(key, f"{key} is empty: the release task needs it"))
    arn = known("task_definition_arn")
    if "task_definition_arn" in props and arn is not None and not TASK_DEFINITION_ARN.match(str(arn)):
        failures.append(CheckFailure(
            "task_definition_arn",
            f"task_definition_arn {arn!r} is not a task definition ARN "
            "(arn:aws:ecs:REGION:ACCOUNT:task-definition/FAMILY:REVISION); pass the release task definition's .arn",
        ))
    for key in ("subnet_ids", "security_group_ids"):
        value = props.get(key)
        if not is_unknown(value) and not value:
            failures.append(CheckFailure(key, f"{key} is empty: the release task runs in the same network as web"))
    failures.extend(timeout_failures(props))
    return failures


def timeout_failures(props: dict[str, Any]) -> list[CheckFailure]:
    """A failure for a timeout_minutes outside 1..MAX_TIMEOUT_MINUTES (unset or unknown passes)."""
    minutes = props.get("timeout_minutes")
    if minutes is None or is_unknown(minutes):
        return []
    if isinstance(minutes, int | float) and not isinstance(minutes, bool) and 1 <= minutes <= MAX_TIMEOUT_MINUTES:
        return []
    return [CheckFailure(
        "timeout_minutes", f"timeout_minutes must be a number of minutes from 1 to {MAX_TIMEOUT_MINUTES}, got {minutes!r}"
    )]


def identity_from_props(props: dict[str, Any]) -> AwsIdentity:
    """The identity properties (state written before they existed has region/profile at the top)."""
    if not props.get("aws"):
        return AwsIdentity(region=props.get("region") or None, profile=props.get("profile") or None)
    secrets = props.get("aws_secrets") or {}
    return AwsIdentity.from_props({**props["aws"], "assume_roles": secrets.get("assume_roles") or [],
                                   "credentials": secrets.get("credentials") or {},
                                   "web_identity": secrets.get("web_identity") or {}})


def identity_props(identity: AwsIdentity) -> dict[str, Any]:
    """The identity as two resource properties: ``aws`` in plain, and ``aws_secrets`` (static keys,
    the roles with their external IDs and session policies) as a Pulumi secret, kept apart so that
    only those are encrypted in the state and hidden in the CLI."""
    plain = identity.to_props()
    secrets = {"credentials": plain.pop("credentials"), "assume_roles": plain.pop("assume_roles"),
               "web_identity": plain.pop("web_identity")}
    return {"aws": plain, "aws_secrets": pulumi.Output.secret(secrets) if any(secrets.values()) else {}}


def default_runner(identity: AwsIdentity) -> TaskRunner:
    return TaskRunner.from_aws(identity)


class ReleaseProvider(ResourceProvider):
    """Runs the release task on create/update; check and diff never touch AWS.

    runner_factory(identity) -> TaskRunner and the output function are injectable for
    tests; the defaults are module-level functions, so the provider pickles small.
    """

    def __init__(
        self,
        runner_factory: Callable[[AwsIdentity], TaskRunner] | None = None,
        output: Callable[[str, bool], None] | None = None,
    ):
        super().__init__()
        self.runner_factory = runner_factory
        self.output = output

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        return CheckResult(news, check_failures(news))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        # Only a new release task definition (image or configuration) re-runs the release;
        # an update (not a replace), since there is nothing to delete.
        changed = is_unknown(news.get("task_definition_arn")) or (
            olds.get("task_definition_arn") != news.get("task_definition_arn")
        )
        return DiffResult(changes=changed, replaces=[], delete_before_replace=False)

    def create(self, props: dict[str, Any]) -> CreateResult:
        outs = self._release(props)
        return CreateResult(f"release-{outs['task_id']}", outs)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(self._release(news))

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        """A finished task leaves nothing behind to delete."""

    def _release(self, props: dict[str, Any]) -> dict[str, Any]:
        request = ReleaseRequest.from_props(props)
        try:
            return self._run(request, props)
        except ReleaseFailed as failure:
            message = str(failure)
        except TaskError as error:
            message = (
                f"Release failed: {error}\n"
                f"{NOTHING_CHANGED}"
            )
        except BotoCoreError as error:  # no credentials, unknown profile, no region
            message = (
                f"Release failed: AWS is not reachable with {request.aws.describe()}: {error}. "
                "Set aws:region/aws:profile/aws:assumeRoles or the AWS_* environment as for pulumi-aws.\n"
                f"{NOTHING_CHANGED}"
            )
        # Raised here, outside the handlers, so the error Pulumi shows has no chained traceback.
        self._say(message, error=True)
        raise ReleaseFailed(message)

    def _run(self, request: ReleaseRequest, props: dict[str, Any]) -> dict[str, Any]:
        factory = self.runner_factory or default_runner
        runner = factory(request.aws)
        family = family_of(request.task_definition_arn)
        refuse_if_busy(runner, request.cluster_arn, family)
        self._say(f"release: running {request.task_definition_arn} (timeout {request.timeout_minutes} min)")
        task = runner.start(request.task_spec())
        self._say(f"release: task {task.task_id} started; logs: {request.log_source().stream_for(task.container_name, task.task_id)}")
        result = runner.wait(
            task,
            logs=request.log_source(),
            timeout=request.timeout_minutes * 60,
            on_status=self._status,
            on_log=self._line,
            stop_reason=f"keel release timed out after {request.timeout_minutes} min",
        )
        if not result.succeeded:
            raise ReleaseFailed(
                f"Release failed: {result.failure_message()}\n"
                f"{NOTHING_CHANGED} "
                "Fix the cause and run `pulumi up` again (it re-runs the release)."
            )
        self._say(f"release: task {result.task_id} exited 0 after {format_elapsed(result.elapsed)}")
        outs = {key: value for key, value in props.items() if key != "__provider"}
        outs.update(task_arn=result.task_arn, task_id=result.task_id, exit_code=result.exit_code,
                    duration_seconds=round(result.elapsed, 1))
        return outs

    def _status(self, change: StatusChange) -> None:
        self._say(f"release: task {change.task.task_id} {change.status} [{format_elapsed(change.elapsed)}]")

    def _line(self, line: LogLine) -> None:
        self._say("\n".join(f"release | {text}" for text in readable_line(line.message).splitlines() or [""]))

    def _say(self, message: str, error: bool = False) -> None:
        (self.output or say)(message, error)


def refuse_if_busy(runner: TaskRunner, cluster: str, family: str) -> None:
    """Raise ReleaseFailed naming the running task(s) of the release family, if any."""
    busy = runner.running_tasks(cluster, family)
    if not busy:
        return
    stop_hint = "; ".join(f"aws ecs stop-task --cluster {cluster} --task {t.task_id}" for t in busy)
    # `keel run` and `keel shell` start copies of the release task definition: they can migrate too.
    what = (
        "another release is running" if any(t.started_by == STARTED_BY for t in busy)
        else f"a one-off task of the release task definition ({family}) is running"
    )
    raise ReleaseFailed(
        f"Release refused: {what} on {cluster}: "
        + ", ".join(t.describe() for t in busy)
        + ". Two migrations must never run at once. Wait for it to finish and run `pulumi up` again, "
        f"or stop it if it is stuck: {stop_hint}"
    )


class ReleaseRun(pulumi.dynamic.Resource, module="keel", name="ReleaseRun"):
    """The dynamic resource; use ``Release``."""

    task_definition_arn: pulumi.Output[str]
    task_arn: pulumi.Output[str]
    exit_code: pulumi.Output[int]

    def __init__(self, name: str, args: ReleaseArgs, opts: pulumi.ResourceOptions | None = None,
                 provider: ReleaseProvider | None = None):
        props = {
            "cluster_arn": args.cluster_arn,
            "task_definition_arn": args.task_definition_arn,
            "container_name": args.container_name,
            "subnet_ids": args.subnet_ids,
            "security_group_ids": args.security_group_ids,
            "assign_public_ip": args.assign_public_ip,
            "log_group_name": args.log_group_name,
            "log_stream_prefix": args.log_stream_prefix,
            **identity_props(args.aws),
            "timeout_minutes": args.timeout_minutes,
            # outputs, known after the run
            "task_arn": None,
            "task_id": None,
            "exit_code": None,
            "duration_seconds": None,
        }
        super().__init__(provider or ReleaseProvider(), name, props, opts)


def child_options(component: pulumi.Resource, opts: pulumi.ResourceOptions | None) -> pulumi.ResourceOptions:
    """Options for the dynamic resource inside a component: parented to it, and waiting for
    whatever the component was told to wait for (a component's depends_on does not reach its
    children by itself)."""
    depends_on = opts.depends_on if opts else None
    if depends_on is not None and not isinstance(depends_on, list | tuple):
        depends_on = [depends_on]
    return pulumi.ResourceOptions(parent=component, depends_on=list(depends_on or []))


class Release(pulumi.ComponentResource):
    """The release gate; make web, worker and beat ``depends_on`` it."""

    task_definition_arn: pulumi.Output[str]
    task_arn: pulumi.Output[str]

    def __init__(self, name: str, args: ReleaseArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(f"{PACKAGE}:release:Release", name, None, opts)
        self.run = ReleaseRun(f"{name}-run", args, child_options(self, opts))
        self.task_definition_arn = self.run.task_definition_arn
        self.task_arn = self.run.task_arn
        self.register_outputs({"task_definition_arn": self.task_definition_arn, "task_arn": self.task_arn})
