"""What the stack gives each process: command, environment, secrets and stopTimeout, taken from
the container definitions of a stack evaluated under Pulumi mocks, with every secret resolved to
the string the stack stores in it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from config import contract

PROCESSES = ("release", "web", "worker", "beat")
ECS_DEFAULT_STOP_TIMEOUT = 30  # seconds, when a container definition sets none (Fargate's default)
# One line per problem from config.env.format_problems: "  NAME: what is wrong. ..."
# ECS Exec's SSM agent keeps its state and logs here; on a read-only root the stack mounts them writable.
SSM_AGENT_PATHS = ("/var/lib/amazon/ssm/", "/var/log/amazon/ssm/")
CONFIG_PROBLEM = re.compile(r"^\s+([A-Z][A-Z0-9_]*): ", re.MULTILINE)


class ParityError(AssertionError):
    """The app and the stack disagree; the message names the process and the variable."""


@dataclass(frozen=True)
class ProcessDefinition:
    name: str
    command: list[str]
    environment: dict[str, str]
    secrets: dict[str, str]  # variable -> valueFrom
    stop_timeout: int
    user: str | None = None
    extra: dict = field(default_factory=dict, compare=False)
    volumes: tuple[dict, ...] = ()  # the task definition's volumes (the container's mountPoints name them)

    def without(self, variable: str) -> ProcessDefinition:
        """This definition with ``variable`` removed from its environment and secrets."""
        return replace(self, environment={k: v for k, v in self.environment.items() if k != variable},
                       secrets={k: v for k, v in self.secrets.items() if k != variable})

    def injected(self) -> set[str]:
        return set(self.environment) | set(self.secrets)

    def _writable_mounts(self) -> tuple[str, ...]:
        return tuple(mount["containerPath"].rstrip("/") + "/" for mount in self.extra.get("mountPoints") or []
                     if not mount.get("readOnly"))

    def writable_paths(self) -> tuple[str, ...]:
        """Folders the app may write to: its writable mount points when the root filesystem is
        read-only (else everything), less the ECS Exec agent's own folders (see ``agent_paths``)."""
        if not self.extra.get("readonlyRootFilesystem"):
            return ("/",)
        return tuple(path for path in self._writable_mounts() if path not in SSM_AGENT_PATHS)

    def agent_paths(self) -> tuple[str, ...]:
        """Writable mounts that belong to the SSM agent ECS Exec injects, not to the app: the app
        never writes there (the parity run checks it), so they are not in ``writable_paths``."""
        return tuple(path for path in self._writable_mounts() if path in SSM_AGENT_PATHS)


def process_definitions(container_definitions: Mapping[str, dict],
                        task_volumes: Mapping[str, list[dict]] | None = None) -> dict[str, ProcessDefinition]:
    """{process -> its definition} from ``Evaluation.container_definitions()`` and, for the
    storage, each process's task volumes (``task_volumes(evaluation)``)."""
    missing = [name for name in PROCESSES if name not in container_definitions]
    if missing:
        raise ParityError(f"the stack defines no container for process {', '.join(missing)}")
    return {name: _definition(name, container_definitions[name], (task_volumes or {}).get(name) or [])
            for name in PROCESSES}


def task_volumes(evaluation) -> dict[str, list[dict]]:
    """{process -> the ``volumes`` of its task definition}, as the stack registers them."""
    return {name: list(record.plain_inputs.get("volumes") or [])
            for name, record in evaluation.task_definitions().items()}


def _definition(name: str, raw: dict, volumes: list[dict]) -> ProcessDefinition:
    return ProcessDefinition(
        name=name,
        command=list(raw.get("command") or []),
        environment={item["name"]: item["value"] for item in raw.get("environment") or []},
        secrets={item["name"]: item["valueFrom"] for item in raw.get("secrets") or []},
        stop_timeout=int(raw.get("stopTimeout") or ECS_DEFAULT_STOP_TIMEOUT),
        user=raw.get("user"),
        extra=raw,
        volumes=tuple(volumes),
    )


def missing_variables(definitions: Mapping[str, ProcessDefinition]) -> list[str]:
    """One line per variable a process needs but is not given.

    Every process runs the same settings module, so each needs every production-required
    variable, and every variable the stack gives any process (a variable given to web but not to
    worker means the two disagree, e.g. on the broker).
    """
    given_anywhere: dict[str, str] = {}
    for definition in definitions.values():
        for variable in sorted(definition.injected()):
            given_anywhere.setdefault(variable, definition.name)
    problems = []
    for definition in definitions.values():
        for variable in contract.production_required():
            if variable not in definition.injected():
                problems.append(f"process {definition.name}: the app needs {variable} (required in production), "
                                "which the stack does not inject")
        for variable, source in given_anywhere.items():
            if variable not in definition.injected() and variable not in contract.production_required():
                problems.append(f"process {definition.name}: the stack does not inject {variable}, which it gives "
                                f"{source}; every process reads the same settings")
    return problems


def check_injected(definitions: Mapping[str, ProcessDefinition]) -> None:
    problems = missing_variables(definitions)
    if problems:
        raise ParityError("\n".join(problems))


def config_problems(output: str) -> list[str]:
    """Variables the app named in its "environment is not a valid configuration" message."""
    if "not a valid configuration" not in output:
        return []
    return list(dict.fromkeys(CONFIG_PROBLEM.findall(output)))


def secret_value(value_from: str, stored: Mapping[str, str | None]) -> str:
    """The string ECS would inject for ``valueFrom``: the whole secret, or one JSON key of it
    (``arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME:JSON_KEY:STAGE:VERSION``)."""
    if value_from in stored and stored[value_from] is not None:
        return stored[value_from]
    parts = value_from.split(":")
    arn, json_key = ":".join(parts[:7]), parts[7] if len(parts) > 7 else ""
    if arn not in stored or stored[arn] is None:
        raise ParityError(f"secret {arn} is referenced by a container but the stack stores no value in it")
    if not json_key:
        return stored[arn]
    document = json.loads(stored[arn])
    if json_key not in document:
        raise ParityError(f"secret {arn} has no JSON key {json_key!r} (keys: {sorted(document)})")
    return str(document[json_key])


def resolved_environment(definition: ProcessDefinition, stored: Mapping[str, str | None]) -> dict[str, str]:
    """The process's environment as the container sees it: plain values plus resolved secrets."""
    overlap = set(definition.environment) & set(definition.secrets)
    if overlap:
        raise ParityError(f"process {definition.name}: {sorted(overlap)} set both in environment and secrets")
    environment = dict(definition.environment)
    for variable, value_from in definition.secrets.items():
        environment[variable] = secret_value(value_from, stored)
    return environment
