"""The stack's facts: `pulumi stack output --json`, or a file holding that JSON.

Every command reads cluster, subnets, security group, task definitions and log groups from
here, so nothing is ever copied by hand. Names come from keel.outputs (what the stack exports).
"""

from __future__ import annotations

import argparse
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from keel import outputs as out
from keel.aws_identity import AwsIdentity
from keel.tasks import task_id_of

from .context import Context, aws_client
from .errors import KeelError, UsageError

PULUMI_INSTALL = "https://www.pulumi.com/docs/iac/download-install/"
PULUMI_TIMEOUT_SECONDS = 120
# The Pulumi project of this checkout (keel is installed editable from it), so stack names
# resolve wherever keel is run from; None when keel runs outside a checkout.
_PROJECT_DIR = Path(__file__).resolve().parents[3]
PROJECT_DIR = _PROJECT_DIR if (_PROJECT_DIR / "Pulumi.yaml").is_file() else None


def command_parser(subparsers: argparse._SubParsersAction, name: str, summary: str, description: str,
                   epilog: str | None = None) -> argparse.ArgumentParser:
    """A subcommand's parser with the --stack/--outputs pair every stack command takes."""
    parser = subparsers.add_parser(name, help=summary, description=description, epilog=epilog)
    add_stack_arguments(parser)
    return parser


def add_stack_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stack", metavar="NAME", help="the Pulumi stack (dev, staging, prod)")
    parser.add_argument(
        "--outputs",
        metavar="FILE",
        type=Path,
        help="read the stack outputs from FILE (the JSON of `pulumi stack output --json`) "
        "instead of running the Pulumi CLI",
    )


@dataclass(frozen=True)
class StackOutputs:
    """Typed access to the outputs a command needs; `load` has validated every required key."""

    name: str
    values: dict[str, Any]
    selector: str = "--stack NAME"  # how the user chose this stack, for commands keel suggests

    def _map_entry(self, key: str, process: str) -> str:
        entries = self.values[key]
        if process not in entries:
            raise UsageError(
                f"stack output {key!r} has no entry for {process!r} (it has: {', '.join(sorted(entries))})",
                hint="run `pulumi up` so the stack exports every process, or fix the --outputs file",
            )
        return entries[process]

    @property
    def region(self) -> str:
        return self.values[out.REGION]

    @property
    def cluster(self) -> str:
        return self.values[out.CLUSTER_NAME]

    @property
    def subnets(self) -> list[str]:
        return list(self.values[out.PRIVATE_SUBNET_IDS])

    @property
    def assign_public_ip(self) -> bool:
        """True on a stack without NAT (keel:natGateways none): its tasks reach AWS through public IPs."""
        return self.values.get(out.TASKS_PUBLIC_IP) is True

    @property
    def security_group(self) -> str:
        return self.values[out.TASK_SECURITY_GROUP_ID]

    @property
    def log_stream_prefix(self) -> str:
        return self.values[out.LOG_STREAM_PREFIX]

    @property
    def url(self) -> str | None:
        return self.values.get(out.URL)

    @property
    def exec_enabled(self) -> bool:
        return self.values.get(out.EXEC_ENABLED) is True

    @property
    def service_names(self) -> dict[str, str]:
        return dict(self.values.get(out.SERVICE_NAMES) or {})

    def task_definition(self, process: str) -> str:
        return self._map_entry(out.TASK_DEFINITION_ARNS, process)

    def container(self, process: str) -> str:
        return self._map_entry(out.CONTAINER_NAMES, process)

    def log_group(self, process: str) -> str:
        return self._map_entry(out.LOG_GROUP_NAMES, process)

    def log_stream(self, process: str, task_arn: str) -> str:
        """awslogs names a task's stream PREFIX/CONTAINER/TASK_ID."""
        return f"{self.log_stream_prefix}/{self.container(process)}/{task_id_of(task_arn)}"


def load(args: argparse.Namespace, context: Context) -> StackOutputs:
    """The validated outputs for --stack / --outputs, or a KeelError saying what to do."""
    stack = args.stack
    if args.outputs is not None:
        values = _read_outputs_file(args.outputs)
        source = str(args.outputs)
    elif stack:
        values = _pulumi_outputs(stack, context)
        source = f"stack {stack!r}"
        use_stack_identity(stack, context)
    else:
        raise UsageError("no stack given", hint="pass --stack NAME (or --outputs FILE with its outputs)")
    exported_stack = values.get(out.STACK)
    # --stack may be fully qualified (org/project/staging); the program exports the bare name.
    if stack and isinstance(exported_stack, str) and exported_stack != stack.rsplit("/", 1)[-1]:
        raise UsageError(
            f"{source} holds the outputs of stack {exported_stack!r}, not {stack!r}",
            hint="pass the matching --stack, or export the right stack's outputs into the file",
        )
    _validate(values, source)
    selector = " ".join(
        ([f"--stack {stack}"] if stack else []) + ([f"--outputs {args.outputs}"] if args.outputs is not None else [])
    )
    return StackOutputs(name=stack or str(exported_stack or "?"), values=values, selector=selector)


def use_stack_identity(stack: str, context: Context) -> None:
    """Act as the stack's pulumi-aws identity (aws:profile, aws:assumeRoles, endpoints...), as the release
    gate does: read with its secrets from `pulumi config --json --show-secrets`. Tests that inject their
    own clients are left alone; without settings beyond the region, the standard chain is the same."""
    if context.client_factory is not aws_client:
        return
    command = ["pulumi", "config", "--json", "--show-secrets", "--stack", stack]
    try:
        result = context.run_process(command, capture_output=True, text=True, timeout=PULUMI_TIMEOUT_SECONDS,
                                     check=False, cwd=PROJECT_DIR)
        entries = json.loads(result.stdout or "{}") if result.returncode == 0 else None
    except (subprocess.TimeoutExpired, json.JSONDecodeError):
        entries = None
    if not isinstance(entries, dict):
        context.err(f"keel: could not read {stack}'s AWS settings (`{' '.join(command)}`): using your own AWS "
                    "credentials and the stack's region")
        return
    raw = {key: _config_text(entry.get("value") if isinstance(entry, dict) else entry)
           for key, entry in entries.items() if key.startswith("aws:")}
    identity, problems = AwsIdentity.from_provider_config(raw)
    if problems:
        raise UsageError(f"stack {stack}: {problems[0]}", hint="fix it in Pulumi.<stack>.yaml (pulumi config set)")
    if any(raw.get(key) for key in raw if key != "aws:region"):
        context.client_factory = identity_clients(identity)


def _config_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def identity_clients(identity: AwsIdentity):
    """A client factory acting as ``identity`` (one session, so roles are assumed once)."""
    session = None

    def client(service: str, region: str) -> Any:
        nonlocal session
        session = session or identity.session()
        return session.client(service, region_name=region, config=identity.config(),
                              endpoint_url=identity.endpoint(service), verify=identity.ca_bundle)
    return client


def _read_outputs_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise UsageError(
            f"outputs file {path} does not exist",
            hint="create it with `pulumi stack output --json --stack NAME > FILE`",
        ) from None
    except OSError as error:
        raise UsageError(f"cannot read outputs file {path}: {error.strerror}") from None
    try:
        values = json.loads(text)
    except json.JSONDecodeError as error:
        raise UsageError(
            f"outputs file {path} is not valid JSON (line {error.lineno}, column {error.colno}: {error.msg})",
            hint="it must hold the output of `pulumi stack output --json --stack NAME`",
        ) from None
    if not isinstance(values, dict):
        raise UsageError(
            f"outputs file {path} holds a JSON {type(values).__name__}, not an object of stack outputs",
            hint="it must hold the output of `pulumi stack output --json --stack NAME`",
        )
    return values


def _pulumi_outputs(stack: str, context: Context) -> dict[str, Any]:
    if context.which("pulumi") is None:
        raise KeelError(
            "the Pulumi CLI is not installed (no `pulumi` on PATH)",
            hint=f"install it ({PULUMI_INSTALL}) or pass --outputs FILE holding "
            "`pulumi stack output --json` from a machine that has it",
        )
    command = ["pulumi", "stack", "output", "--json", "--non-interactive", "--stack", stack]
    try:
        result = context.run_process(
            command, capture_output=True, text=True, timeout=PULUMI_TIMEOUT_SECONDS, check=False, cwd=PROJECT_DIR
        )
    except subprocess.TimeoutExpired:
        raise KeelError(
            f"`{' '.join(command)}` did not answer in {PULUMI_TIMEOUT_SECONDS}s",
            hint="check your Pulumi backend (pulumi whoami), or pass --outputs FILE",
        ) from None
    if result.returncode != 0:
        raise _pulumi_failure(stack, result.stderr or result.stdout or "")
    try:
        values = json.loads(result.stdout or "")
    except json.JSONDecodeError:
        raise KeelError(
            f"`pulumi stack output --json --stack {stack}` did not print JSON",
            hint="run it yourself to see why, or pass --outputs FILE",
        ) from None
    if not isinstance(values, dict) or not values:
        raise KeelError(
            f"stack {stack!r} has no outputs yet",
            hint=f"deploy it first: pulumi up --stack {stack}",
        )
    return values


def _pulumi_failure(stack: str, stderr: str) -> KeelError:
    """Pulumi's own error, reduced to the one case the user has to act on."""
    text = stderr.lower()
    if "no stack named" in text or ("not found" in text and "stack" in text):
        return KeelError(
            f"Pulumi has no stack named {stack!r} in the current backend",
            hint="list stacks with `pulumi stack ls`; log in to the right backend with `pulumi login`",
        )
    if "login" in text or "access_token" in text or "not logged in" in text:
        return KeelError(
            "the Pulumi CLI is not logged in to a backend",
            hint="run `pulumi login` (or set PULUMI_ACCESS_TOKEN / PULUMI_BACKEND_URL), or pass --outputs FILE",
        )
    if "no pulumi.yaml" in text or "no project file" in text:
        return KeelError(
            "the Pulumi CLI found no Pulumi project here",
            hint="run keel inside the Keel repository, use a fully qualified --stack ORG/PROJECT/NAME, or pass --outputs FILE",
        )
    if "passphrase" in text:
        return KeelError(
            f"Pulumi needs the passphrase of stack {stack!r}",
            hint="set PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE), or pass --outputs FILE",
        )
    first_line = next((line.strip() for line in stderr.splitlines() if line.strip()), "no message")
    return KeelError(
        f"`pulumi stack output --stack {stack}` failed: {first_line}",
        hint="fix that, or pass --outputs FILE",
    )


def _validate(values: dict[str, Any], source: str) -> None:
    missing = [key for key in out.REQUIRED if key not in values]
    if missing:
        raise UsageError(
            f"{source} lacks the stack output(s) {', '.join(missing)}",
            hint="run `pulumi up` with this version of Keel so the stack exports them",
        )
    problems = [problem for key in out.REQUIRED if (problem := _shape_problem(key, values[key]))]
    if problems:
        raise UsageError(f"{source}: {'; '.join(problems)}", hint="run `pulumi up` again, or fix the file")


_MAPS = {out.TASK_DEFINITION_ARNS, out.CONTAINER_NAMES, out.LOG_GROUP_NAMES, out.SERVICE_NAMES}


def _shape_problem(key: str, value: Any) -> str | None:
    if value == "[secret]":
        return f"output {key!r} is marked secret, so its value is hidden"
    if key in _MAPS:
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            return f"output {key!r} must be an object of names, got {json.dumps(value)[:60]}"
        return None
    if key == out.PRIVATE_SUBNET_IDS:
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            return f"output {key!r} must be a non-empty list of subnet ids, got {json.dumps(value)[:60]}"
        return None
    if not isinstance(value, str) or not value:
        return f"output {key!r} must be a non-empty string, got {json.dumps(value)[:60]}"
    return None
