"""Fargate task definitions for release, web, worker and beat: one container each, named after the process.

Every container runs the same image digest as a non-root user (ECS-07) on a read-only root
filesystem with a writable /tmp task volume (ECS-06; with ECS Exec, also the SSM agent's folders), under an init process so signals reach the
app, with awslogs per process (ECS-04) and a stop timeout longer than the app's own drain (ECS-14).
The command comes from the Procfile; environment and secrets from ``keel.environment``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from keel import contract
from keel.components import PACKAGE, child, dependencies, named_tags
from keel.environment import StackValues, container_environment
from keel.stack_config import ProcessSize

USER = "10001:10001"  # the app user the Dockerfile creates
# The task volumes below are bind mounts on Fargate's task storage. Fargate creates each one owned by
# root with mode 0755, which USER cannot write, unless the image declares a VOLUME at the mount
# point: then it copies the image's directory in, owner and mode included (AWS docs, "Use bind mounts
# with Amazon ECS"). The Dockerfile declares every path mounted here; tests/parity proves it.
TMP_VOLUME = "tmp"
# ECS Exec's SSM agent writes its state and logs here; on a read-only root filesystem it cannot start
# without them (aws-containers/amazon-ecs-exec-checker#21, aws/containers-roadmap#1359).
# Volume name -> container path.
EXEC_VOLUMES = {"ssm-lib": "/var/lib/amazon/ssm", "ssm-log": "/var/log/amazon/ssm"}
FARGATE_MAX_STOP_TIMEOUT = 120
STOP_TIMEOUTS = {
    # SIGKILL must never arrive before gunicorn's graceful drain ends.
    "web": min(FARGATE_MAX_STOP_TIMEOUT, contract.WEB_GRACEFUL_TIMEOUT + 15),
    # Celery's soft shutdown (WORKER_SOFT_SHUTDOWN_TIMEOUT) plus time to requeue unacked messages.
    "worker": FARGATE_MAX_STOP_TIMEOUT,
    "beat": 30,
    # An interrupted migration gets the longest window to roll its transaction back.
    "release": FARGATE_MAX_STOP_TIMEOUT,
}
LOG_BUFFER = "25m"
SECRETS_LABEL = "keel.secrets-fingerprint"


@dataclass(frozen=True)
class ContainerSpec:
    """Everything one container definition needs, as plain values."""

    process: str
    image: str
    command: list[str]
    cpu: int
    memory: int
    environment: list[dict]
    secrets: list[dict]
    log_group: str
    region: str
    stream_prefix: str
    secrets_fingerprint: str
    port: int | None = None
    exec_enabled: bool = False


def log_configuration(spec: ContainerSpec) -> dict:
    """awslogs: the release task blocks rather than drop a line; services never block on logging."""
    options = {"awslogs-group": spec.log_group, "awslogs-region": spec.region,
               "awslogs-stream-prefix": spec.stream_prefix}
    if spec.process == "release":
        options["mode"] = "blocking"
    else:
        options.update({"mode": "non-blocking", "max-buffer-size": LOG_BUFFER})
    return {"logDriver": "awslogs", "options": options}


def writable_volumes(exec_enabled: bool) -> dict[str, str]:
    """Task volumes the container may write to on its read-only root: name -> container path."""
    return {TMP_VOLUME: "/tmp", **(EXEC_VOLUMES if exec_enabled else {})}


def container_definition(spec: ContainerSpec) -> dict:
    """The ECS container definition (RegisterTaskDefinition's shape) for one process."""
    definition = {
        "name": spec.process,
        "image": spec.image,
        "essential": True,
        "command": list(spec.command),
        "cpu": spec.cpu,
        "memory": spec.memory,
        "user": USER,
        "readonlyRootFilesystem": True,
        "privileged": False,
        "mountPoints": [{"sourceVolume": volume, "containerPath": path, "readOnly": False}
                        for volume, path in writable_volumes(spec.exec_enabled).items()],
        "linuxParameters": {"initProcessEnabled": True},
        "stopTimeout": STOP_TIMEOUTS[spec.process],
        "environment": spec.environment,
        "secrets": spec.secrets,
        "logConfiguration": log_configuration(spec),
        # Changing a secret's value changes this label: a new revision, so the services roll.
        "dockerLabels": {SECRETS_LABEL: spec.secrets_fingerprint},
    }
    if spec.port is not None:
        definition["portMappings"] = [{"containerPort": spec.port, "protocol": "tcp", "name": "http"}]
    return definition


@dataclass
class TaskDefinitionsArgs:
    family_prefix: str
    sizes: dict[str, ProcessSize]
    commands: dict[str, list[str]]  # from the Procfile
    image_ref: pulumi.Input[str]
    stack_values: pulumi.Input[StackValues]  # an Output resolving to the plain values
    secrets_fingerprint: pulumi.Input[str]
    log_group_names: dict[str, pulumi.Input[str]]
    region: str
    stream_prefix: str
    execution_role_arn: pulumi.Input[str]
    task_role_arn: pulumi.Input[str]
    exec_enabled: bool = False  # ECS Exec: the SSM agent gets its writable folders
    cpu_architecture: str = "X86_64"  # or ARM64 (Graviton, keel:architecture arm64); the image must match
    tags: dict[str, str] = field(default_factory=dict)


def environment_size(process: str, sizes: dict[str, ProcessSize]) -> int:
    """Whose size sets per-process values: release runs with web's environment, exactly."""
    return sizes["web"].cpu if process == "release" else sizes[process].cpu


class TaskDefinitions(pulumi.ComponentResource):
    arns: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: TaskDefinitionsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{PACKAGE}:ecs:TaskDefinitions", name, None, opts)
        self.arns = {}
        self.definitions = {}
        for process, size in args.sizes.items():
            definitions = pulumi.Output.all(
                args.image_ref, args.stack_values, args.secrets_fingerprint, args.log_group_names[process],
            ).apply(lambda v, process=process, size=size: self._definitions_json(args, process, size, *v))
            family = f"{args.family_prefix}-{process}"
            task_definition = aws.ecs.TaskDefinition(
                f"{name}-{process}", family=family, cpu=str(size.cpu), memory=str(size.memory),
                network_mode="awsvpc", requires_compatibilities=["FARGATE"],
                runtime_platform=aws.ecs.TaskDefinitionRuntimePlatformArgs(
                    operating_system_family="LINUX", cpu_architecture=args.cpu_architecture),
                execution_role_arn=args.execution_role_arn, task_role_arn=args.task_role_arn,
                volumes=[aws.ecs.TaskDefinitionVolumeArgs(name=volume) for volume in writable_volumes(args.exec_enabled)],
                container_definitions=definitions, tags=named_tags(args.tags, family),
                # e.g. the role policies: a task started before they exist cannot pull or read its secrets.
                opts=child(self, depends_on=dependencies(opts)))
            self.arns[process] = task_definition.arn
            self.definitions[process] = task_definition
        self.register_outputs({"arns": self.arns})

    @staticmethod
    def _definitions_json(args: TaskDefinitionsArgs, process: str, size: ProcessSize, image: str,
                          values: StackValues, fingerprint: str, log_group: str) -> str:
        """The task definition's containerDefinitions: one container, named after the process."""
        environment, secrets = container_environment(values, environment_size(process, args.sizes))
        return json.dumps([container_definition(ContainerSpec(
            process=process, image=image, command=args.commands[process], cpu=size.cpu, memory=size.memory,
            environment=environment, secrets=secrets, log_group=log_group, region=args.region,
            stream_prefix=args.stream_prefix, secrets_fingerprint=fingerprint,
            port=contract.PORT if process == "web" else None, exec_enabled=args.exec_enabled))])
