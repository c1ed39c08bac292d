"""Run the stack's processes as containers of the image: definitions in, running containers out."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.parity import fargate, oci
from tests.parity.browser import probe
from tests.parity.local import LocalServices, local_environment
from tests.parity.stack import ParityError, ProcessDefinition, config_problems, resolved_environment

RDS_MANAGED_SECRET = ":secret:rds!"
# Stand-in for the password RDS keeps in its own secret (neither the stack nor its mocks store
# it). It is a credential, which the test replaces anyway; the local server trusts loopback.
LOCAL_DB_PASSWORD = "local-postgres-trusts-loopback"


def stored_secrets(secret_values: Mapping[str, str | None],
                   definitions: Mapping[str, ProcessDefinition]) -> dict[str, str | None]:
    """The stack's stored secret strings, plus a local stand-in for each RDS-managed secret."""
    stored = dict(secret_values)
    for definition in definitions.values():
        for value_from in definition.secrets.values():
            arn = ":".join(value_from.split(":")[:7])
            if RDS_MANAGED_SECRET in arn and arn not in stored:
                stored[arn] = json.dumps({"username": "postgres", "password": LOCAL_DB_PASSWORD})
    return stored


def environments(definitions: Mapping[str, ProcessDefinition], secret_values: Mapping[str, str | None],
                 local: LocalServices) -> dict[str, dict[str, str]]:
    """{process -> the environment its container gets}: secrets resolved, services local."""
    stored = stored_secrets(secret_values, definitions)
    return {name: local_environment(resolved_environment(definition, stored), local)
            for name, definition in definitions.items()}


def failure(container: oci.Container, what: str) -> AssertionError:
    """The error for a process that stopped or misbehaved, naming every variable the app refused."""
    output = container.output()
    named = config_problems(output)
    if named:
        lines = [line.strip() for line in output.splitlines() if line.strip().startswith(tuple(named))]
        return ParityError(f"process {container.name}: the app refuses the environment the stack injects "
                           f"({', '.join(named)}):\n  " + "\n  ".join(lines))
    return AssertionError(f"process {container.name}: {what}\n--- its output (last lines) ---\n{output[-4000:]}")


def start(image: str, definition: ProcessDefinition, environment: Mapping[str, str], log_dir: Path,
          name: str | None = None, command: list[str] | None = None) -> oci.Container:
    """A container of ``image`` as Fargate runs ``definition``: its command, user, and storage (task
    volumes at its mount points, read-only root; see tests/parity/fargate.py)."""
    storage = fargate.task_storage(definition.volumes, definition.extra, oci.image_config(image))
    return oci.Container(image, name or definition.name, command or definition.command, environment, log_dir,
                         user=definition.user, storage=storage)


def host_path(container: oci.Container, definition: ProcessDefinition, path: str) -> Path:
    """Where ``path`` in the container lives on the host: in the task volume mounted over it."""
    for point in definition.extra.get("mountPoints") or []:
        base = point["containerPath"].rstrip("/")
        if path == base or path.startswith(base + "/"):
            return container.volume(point["sourceVolume"]) / path[len(base):].lstrip("/")
    raise AssertionError(f"{path} is on no mount point of {definition.name}: it is on the read-only root")


def start_all(image: str, log_dir: Path, runs: list[dict]) -> list[oci.Container]:
    """Start several containers at once (each `buildah from` copies the image: do them together).
    Each item of ``runs`` holds the keyword arguments of ``start``."""
    with ThreadPoolExecutor(max_workers=len(runs)) as pool:
        return list(pool.map(lambda run: start(image, log_dir=log_dir, **run), runs))


def run_to_completion(container: oci.Container, timeout: float) -> None:
    """Wait for a one-off container; a non-zero exit fails, naming the variables the app refused."""
    status = container.wait(timeout=timeout)
    if status != 0:
        raise failure(container, f"exited with status {status}")


def wait_until_serving(web: oci.Container, port: int, others: list[oci.Container], timeout: float) -> None:
    """Poll /healthz like the target group until it answers; any process exiting first fails."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for container in [web, *others]:
            if container.exited():
                raise failure(container, f"exited with status {container.process.returncode} before web served")
        try:
            if probe(port, "/healthz").status == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise failure(web, f"did not answer /healthz on port {port} within {timeout:.0f} s")


def wait_for(condition, timeout: float, what: str, containers: list[oci.Container], interval: float = 0.5):
    """Poll ``condition`` until it returns something truthy; a process exiting meanwhile fails."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        for container in containers:
            if container.exited():
                raise failure(container, f"exited with status {container.process.returncode} while waiting: {what}")
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting: {what}\n" + "\n".join(
        f"--- {c.name} (last lines) ---\n{c.output()[-1500:]}" for c in containers))


def non_json_lines(container: oci.Container) -> list[str]:
    """Lines of the container's stdout that are not a JSON log object (factor XI: one per line)."""
    bad = []
    for line in container.stdout().splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            bad.append(line)
            continue
        if not isinstance(record, dict) or not {"timestamp", "level", "logger", "message"} <= set(record):
            bad.append(line)
    return bad
