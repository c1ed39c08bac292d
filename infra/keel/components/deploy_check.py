"""Truthful deploy status: `pulumi up` succeeds only if ECS really rolled every service forward.

ECS's "steady state" (and so pulumi-aws' and Terraform's waits) is also reached after the
deployment circuit breaker has rolled a deploy back to the previous task definition, which
reports success for a deploy that did not happen. ``DeployCheck`` is a dynamic resource that
runs after the services (``depends_on``) and, on create and update, polls DescribeServices until
every service's PRIMARY deployment runs the task definition we asked for with rolloutState
COMPLETED. It fails, naming the service and the task definition that failed, with the service's
latest events and the stopped tasks' reasons, when:

* the circuit breaker rolled back: the PRIMARY deployment runs another task definition, or the
  deployment of ours has rolloutState FAILED;
* the deployment is stuck: not COMPLETED within ``timeout_minutes`` (default 30).

It re-runs whenever any requested task definition (or service) changes, and never during
``pulumi preview`` (check and diff make no AWS call; see ``keel.components.release`` for the
output channel, the credentials and why the provider pickles small).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
from botocore.exceptions import BotoCoreError, ClientError
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, DiffResult, ResourceProvider, UpdateResult

from keel.aws_identity import AwsIdentity
from keel.components import PACKAGE
from keel.components.release import (
    DEFAULT_TIMEOUT_MINUTES,
    child_options,
    identity_from_props,
    identity_props,
    is_unknown,
    say,
    timeout_failures,
)
from keel.tasks import TaskError, aws_clients, format_elapsed, task_id_of

POLL_SECONDS = 15.0
EVENTS_SHOWN = 8
STOPPED_TASKS_SHOWN = 5


class DeployFailed(Exception):
    """A service did not roll forward; the message is what the user reads in `pulumi up`."""


class _ApiError(Exception):
    """An ECS call failed (after botocore's retries); retried for a while by the watcher."""


@dataclass(kw_only=True)
class DeployCheckArgs:
    """Inputs of the deploy check.

    cluster_arn      the ECS cluster.
    services         {"web": (service name or ARN, task definition ARN it must run), ...}.
    aws              the pulumi-aws provider's identity settings (as for the release gate).
    timeout_minutes  how long a deployment may take before it counts as stuck (default 30).
    """

    cluster_arn: pulumi.Input[str]
    services: Mapping[str, tuple[pulumi.Input[str], pulumi.Input[str]]]
    aws: AwsIdentity = field(default_factory=AwsIdentity)
    timeout_minutes: pulumi.Input[int] = DEFAULT_TIMEOUT_MINUTES


@dataclass(frozen=True)
class Verdict:
    """Where one service's deployment stands."""

    state: str  # "done", "waiting" or "failed"
    summary: str  # one line for progress output
    failed_deployment: dict[str, Any] | None = None


def judge(service: dict[str, Any], wanted_td: str) -> Verdict:
    """Whether the service runs wanted_td with its PRIMARY deployment COMPLETED."""
    deployments = service.get("deployments", [])
    primary = next((d for d in deployments if d.get("status") == "PRIMARY"), None)
    ours = next((d for d in deployments if d.get("taskDefinition") == wanted_td), None)
    if primary is None:
        return Verdict("waiting", "no PRIMARY deployment yet")
    progress = (
        f"{primary.get('rolloutState', 'rollout state unknown')}, running {primary.get('runningCount', 0)}"
        f"/{primary.get('desiredCount', 0)}, pending {primary.get('pendingCount', 0)}, "
        f"failed tasks {primary.get('failedTasks', 0)}"
    )
    if primary.get("taskDefinition") != wanted_td:
        return Verdict(
            "failed",
            f"rolled back: PRIMARY runs {short_td(primary.get('taskDefinition', '?'))}, "
            f"not {short_td(wanted_td)}",
            ours,
        )
    if primary.get("rolloutState") == "FAILED":
        return Verdict("failed", f"deployment {primary.get('id')} FAILED: {primary.get('rolloutStateReason', '')}", primary)
    if primary.get("rolloutState") == "COMPLETED":
        return Verdict("done", f"COMPLETED on {short_td(wanted_td)}")
    if "rolloutState" not in primary and len(deployments) == 1 and (
        primary.get("runningCount") == primary.get("desiredCount")
    ):
        return Verdict("done", f"steady on {short_td(wanted_td)} (no rollout state)")  # non-rolling controllers
    return Verdict("waiting", progress)


def short_td(arn: str) -> str:
    """family:revision of a task definition ARN."""
    return arn.rsplit("/", 1)[-1]


class DeployWatcher:
    """Polls DescribeServices until every service is done, or raises DeployFailed."""

    def __init__(
        self,
        ecs: Any,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        poll_interval: float = POLL_SECONDS,
        output: Callable[[str, bool], None] = say,
        error_grace: float = 120.0,
    ):
        self.ecs = ecs
        self.error_grace = error_grace  # how long DescribeServices may keep failing before we give up
        self.clock = clock
        self.sleep = sleep
        self.poll_interval = poll_interval
        self.output = output

    def wait(self, cluster: str, wanted: Mapping[str, tuple[str, str]], timeout: float) -> dict[str, str]:
        """{process: summary} once all are COMPLETED; DeployFailed naming each failed or stuck one."""
        began = self.clock()
        last: dict[str, str] = {}
        failing_since: float | None = None
        while True:
            try:
                verdicts = self._verdicts(cluster, wanted)
                failing_since = None
            except _ApiError as error:
                # A network blip must not fail a deploy that may well have succeeded.
                failing_since = self.clock() if failing_since is None else failing_since
                if self.clock() - failing_since >= self.error_grace:
                    raise DeployFailed(f"Deploy check failed: {error} (for {format_elapsed(self.error_grace)})") from None
                self.sleep(self.poll_interval)
                continue
            for process, (verdict, _) in verdicts.items():
                if last.get(process) != verdict.summary:
                    last[process] = verdict.summary
                    self.output(f"deploy: {process} {verdict.summary} [{format_elapsed(self.clock() - began)}]", False)
            failed = {p: v for p, v in verdicts.items() if v[0].state == "failed"}
            if failed:
                raise DeployFailed(self._explain(cluster, wanted, failed, "did not roll forward"))
            if all(v.state == "done" for v, _ in verdicts.values()):
                return {process: verdict.summary for process, (verdict, _) in verdicts.items()}
            if self.clock() - began >= timeout:
                stuck = {p: v for p, v in verdicts.items() if v[0].state != "done"}
                raise DeployFailed(
                    self._explain(cluster, wanted, stuck, f"is stuck: not COMPLETED after {format_elapsed(timeout)}")
                )
            self.sleep(self.poll_interval)

    def _verdicts(self, cluster: str, wanted: Mapping[str, tuple[str, str]]) -> dict[str, tuple[Verdict, dict]]:
        names = [service for service, _ in wanted.values()]
        response = self._call("DescribeServices", self.ecs.describe_services, cluster=cluster, services=names)
        found = {}
        for service in response.get("services", []):
            found[service.get("serviceName")] = service
            found[service.get("serviceArn")] = service
        missing = [f"{f.get('arn')} ({f.get('reason')})" for f in response.get("failures", [])]
        if missing:
            raise DeployFailed(f"Deploy check failed: ECS does not know these services on {cluster}: {', '.join(missing)}")
        verdicts = {}
        for process, (service_name, td) in wanted.items():
            service = found.get(service_name) or found.get(service_name.rsplit("/", 1)[-1]) or {}
            verdicts[process] = (judge(service, td), service)
        return verdicts

    def _explain(self, cluster: str, wanted: Mapping[str, tuple[str, str]], bad: dict, what: str) -> str:
        parts = []
        for process, (verdict, service) in bad.items():
            service_name, td = wanted[process]
            lines = [f"Deploy failed: service {process} ({service_name}) {what}: {verdict.summary}.",
                     f"  Requested task definition: {td}"]
            deployment = verdict.failed_deployment
            if deployment and deployment.get("rolloutStateReason"):
                lines.append(f"  Rollout: {deployment.get('rolloutState')}: {deployment['rolloutStateReason']}")
            lines.append("  Latest service events:")
            lines.extend(f"    {event_line(e)}" for e in service.get("events", [])[:EVENTS_SHOWN])
            stopped = self._stopped_tasks(cluster, service_name, td)
            if stopped:
                lines.append(f"  Stopped tasks of {short_td(td)}:")
                lines.extend(f"    {line}" for line in stopped)
            parts.append("\n".join(lines))
        parts.append(
            "pulumi-aws may report the service as updated, but ECS is not running the new version. "
            "Fix the cause and run `pulumi up` again; `keel logs` shows the tasks' output."
        )
        return "\n".join(parts)

    def _stopped_tasks(self, cluster: str, service_name: str, td: str) -> list[str]:
        """Why the newest stopped tasks of this task definition stopped (best effort)."""
        try:
            arns = self.ecs.list_tasks(cluster=cluster, serviceName=service_name.rsplit("/", 1)[-1],
                                       desiredStatus="STOPPED").get("taskArns", [])
            if not arns:
                return []
            tasks = self.ecs.describe_tasks(cluster=cluster, tasks=arns[:100]).get("tasks", [])
        except (ClientError, BotoCoreError) as error:
            return [f"(could not list stopped tasks: {error})"]
        ours = [t for t in tasks if t.get("taskDefinitionArn") == td] or tasks
        ours.sort(key=lambda t: str(t.get("stoppedAt", "")), reverse=True)
        return [stopped_task_line(t) for t in ours[:STOPPED_TASKS_SHOWN]]

    def _call(self, name: str, method: Callable[..., dict], **params: Any) -> dict:
        try:
            return method(**params)
        except (ClientError, BotoCoreError) as error:
            raise _ApiError(f"{name} failed: {error}") from None


def event_line(event: dict[str, Any]) -> str:
    created = event.get("createdAt")
    when = f"{created:%Y-%m-%d %H:%M:%S} " if created else ""
    return f"{when}{event.get('message', '')}"


def stopped_task_line(task: dict[str, Any]) -> str:
    parts = [f"task {task_id_of(task.get('taskArn', '?'))}:"]
    if task.get("stopCode"):
        parts.append(task["stopCode"])
    if task.get("stoppedReason"):
        parts.append(f"- {task['stoppedReason']}")
    for container in task.get("containers", []):
        detail = []
        if container.get("exitCode") is not None:
            detail.append(f"exit {container['exitCode']}")
        if container.get("reason"):
            detail.append(container["reason"])
        if detail:
            parts.append(f"[{container.get('name')}: {', '.join(detail)}]")
    return " ".join(parts)


def services_prop(services: Mapping[str, tuple[Any, Any]]) -> dict[str, dict[str, Any]]:
    """The services input as a property Pulumi can serialize (it has no tuples)."""
    return {process: {"service_name": name, "task_definition_arn": td} for process, (name, td) in services.items()}


def wanted_from_props(props: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {p: (s["service_name"], s["task_definition_arn"]) for p, s in (props.get("services") or {}).items()}


def default_ecs(identity: AwsIdentity) -> Any:
    return aws_clients(identity, "ecs")[0]


class DeployCheckProvider(ResourceProvider):
    """Waits for the services on create/update; check and diff never touch AWS."""

    def __init__(self, watcher_factory: Callable[[AwsIdentity], DeployWatcher] | None = None):
        super().__init__()
        self.watcher_factory = watcher_factory

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        failures = []
        services = news.get("services")
        if not is_unknown(services) and isinstance(services, dict):
            if not services:
                failures.append(CheckFailure("services", "services is empty: give the web, worker and beat services"))
            for process, service in services.items():
                for key in ("service_name", "task_definition_arn"):
                    if not is_unknown(service.get(key)) and not service.get(key):
                        failures.append(CheckFailure("services", f"services.{process}.{key} is empty"))
        failures.extend(timeout_failures(news))
        return CheckResult(news, failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        # Any new task definition (or a changed service set) means a new rollout to verify.
        new_services = news.get("services")
        changed = (
            is_unknown(new_services)
            or any(is_unknown(v) for s in (new_services or {}).values() if isinstance(s, dict) for v in s.values())
            or olds.get("services") != new_services
            or olds.get("cluster_arn") != news.get("cluster_arn")
        )
        return DiffResult(changes=changed, replaces=[], delete_before_replace=False)

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(f"deploy-check-{int(time.time())}", self._check(props))

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(self._check(news))

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        """Nothing to delete: the check only reads."""

    def _check(self, props: dict[str, Any]) -> dict[str, Any]:
        identity = identity_from_props(props)
        timeout = float(props.get("timeout_minutes") or DEFAULT_TIMEOUT_MINUTES) * 60
        output: Callable[[str, bool], None] = say
        try:
            watcher = (self.watcher_factory or default_watcher)(identity)
            output = watcher.output
            summaries = watcher.wait(props["cluster_arn"], wanted_from_props(props), timeout)
        except DeployFailed as failure:
            message = str(failure)
        except TaskError as error:  # a role that cannot be assumed
            message = f"Deploy check failed: {error}"
        except BotoCoreError as error:  # no credentials, unknown profile, no region
            message = (
                f"Deploy check failed: AWS is not reachable with {identity.describe()}: {error}. "
                "Set aws:region/aws:profile/aws:assumeRoles or the AWS_* environment as for pulumi-aws."
            )
        else:
            outs = {key: value for key, value in props.items() if key != "__provider"}
            outs["summaries"] = summaries
            return outs
        # Raised outside the handler so the error Pulumi shows has no chained traceback.
        output(message, True)
        raise DeployFailed(message)


def default_watcher(identity: AwsIdentity) -> DeployWatcher:
    return DeployWatcher(default_ecs(identity))


class DeployCheckRun(pulumi.dynamic.Resource, module="keel", name="DeployCheckRun"):
    """The dynamic resource; use ``DeployCheck``."""

    summaries: pulumi.Output[dict]

    def __init__(self, name: str, args: DeployCheckArgs, opts: pulumi.ResourceOptions | None = None,
                 provider: DeployCheckProvider | None = None):
        props = {
            "cluster_arn": args.cluster_arn,
            "services": services_prop(args.services),
            **identity_props(args.aws),
            "timeout_minutes": args.timeout_minutes,
            "summaries": None,
        }
        super().__init__(provider or DeployCheckProvider(), name, props, opts)


class DeployCheck(pulumi.ComponentResource):
    """Fails `pulumi up` unless every service rolled forward; give it ``depends_on=[services]``."""

    summaries: pulumi.Output[dict]

    def __init__(self, name: str, args: DeployCheckArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(f"{PACKAGE}:deploy:DeployCheck", name, None, opts)
        self.run = DeployCheckRun(f"{name}-run", args, child_options(self, opts))
        self.summaries = self.run.summaries
        self.register_outputs({"summaries": self.summaries})
