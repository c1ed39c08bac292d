"""`keel check --stack NAME`: the policy pack's rules, offline.

Runs the Pulumi program under mocks with the committed stack file's config (keel.evaluate, no
AWS and no Pulumi CLI), evaluates every resource and stack rule of keel_policy against the
resulting resources, prints which variables each process gets (names only) and one row per
finding (and one per clean rule), and exits 1 when a mandatory rule is violated. The same rules
run in `pulumi preview --policy-pack policy`.

``--set`` speaks `pulumi config set`: ``--set keel:web.memory=4096`` sets a path inside an object
(as ``--path`` does), ``--set --secret keel:secrets.STRIPE_API_KEY=...`` sets a value as secret.
Encrypted values in the stack file are never decrypted (no passphrase needed): each is an opaque
stand-in, set and secret, as the program would see it.
"""

from __future__ import annotations

import argparse
import json

from keel_policy.engine import evaluate as evaluate_rules
from keel_policy.engine import failures
from keel_policy.model import from_record
from keel_policy.registry import Context
from keel_policy.report import as_json, table

from keel import evaluate
from keel.outputs import PROCESSES
from keel.stack_config import EXAMPLE_VALUE, StackConfigError, load, placeholder_problems

from .errors import KeelError, UsageError

VIOLATIONS = 1  # exit code when a mandatory rule fails; usage and program errors exit 2
SECRET_MARK = object()  # `--set` followed by `--secret KEY=VALUE`
FIX_HINT = "fix the stack config named above (Pulumi.<stack>.yaml, or --set), or rerun with --debug"
# Stand-ins for the committed example names (--stand-ins, what CI checks the template with): a name under
# the reserved .test domain (RFC 2606), and ids of the right shape that are nobody's.
STAND_INS = {
    "domain": lambda stack, region: f"{stack}.keel-ci.test",
    "hostedZoneId": lambda stack, region: "Z0KEELCI" + stack.upper().replace("-", "0"),
    "certificateArn": lambda stack, region: f"arn:aws:acm:{region}:000000000000:certificate/"
                                            "00000000-0000-0000-0000-000000000000",
}


class ProgramError(KeelError):
    """The stack's program could not be evaluated (bad config, program bug): nothing was checked."""

    exit_code = 2


class ConfigErrors(KeelError):
    """Config problems, each printed on its own line."""

    exit_code = 2

    def __init__(self, stack: str, messages: list[str], hint: str = FIX_HINT) -> None:
        super().__init__(f"stack {stack}: invalid config:", hint)
        self.messages = messages


class _Set(argparse.Action):
    """`--set KEY=VALUE`, or a bare `--set` before `--secret KEY=VALUE` (pulumi config set --secret)."""

    def __call__(self, parser, namespace, value, option_string=None):
        getattr(namespace, self.dest).append(("plain", value) if value is not None else ("marker", None))


class _Secret(argparse.Action):
    def __call__(self, parser, namespace, value, option_string=None):
        getattr(namespace, self.dest).append(("secret", value))


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "check", help="check a stack against the security rules, offline (Pulumi mocks, no AWS)",
        description="Evaluate the stack's program under Pulumi mocks with its committed Pulumi.<stack>.yaml and "
        "check every rule of the policy pack (docs/policy-rules.md). Exits 1 if a mandatory rule is violated, "
        "2 if the config is invalid (each problem on its own line).")
    parser.add_argument("--stack", required=True, help="stack name: reads Pulumi.<stack>.yaml")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--set", action=_Set, nargs="?", default=[], metavar="KEY=VALUE", dest="overrides",
                        help="set a config value for this check only, as `pulumi config set [--path]` would: "
                        "--set keel:dbMultiAz=false, --set keel:web.memory=4096")
    parser.add_argument("--secret", action=_Secret, metavar="KEY=VALUE", dest="overrides",
                        help="the same for a secret value (`pulumi config set --secret`): "
                        "--set --secret 'keel:secrets.STRIPE_API_KEY=sk_test_...'")
    parser.add_argument("--migrations-since", metavar="REV",
                        help="also refuse migrations added since git REV that would break the version still "
                        "serving (e.g. the revision the stack runs: its imageRevision output); needs the local "
                        "Postgres, like bin/manage (docs/migrations.md)")
    parser.add_argument("--stand-ins", action="store_true",
                        help="check a stack file that still holds the committed example domain, hosted zone or "
                        "certificate with stand-in names under .test (what CI does); without it they are refused, "
                        "as by pulumi preview")
    parser.set_defaults(func=run)


def parse_overrides(pairs: list) -> tuple[dict[str, str], dict[str, str]]:
    """(plain, secret) overrides from --set/--secret; a plain list of KEY=VALUE strings works too."""
    plain: dict[str, str] = {}
    secret: dict[str, str] = {}
    for kind, pair in [item if isinstance(item, tuple) else ("plain", item) for item in pairs]:
        if kind == "marker":
            continue
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            flag = "--set --secret" if kind == "secret" else "--set"
            shown = key.strip() if kind == "secret" else pair  # never echo a secret value
            raise UsageError(f"{flag} {shown!r} is not KEY=VALUE",
                             "for example: --set keel:dbMultiAz=false, --set keel:web.memory=4096, "
                             "--set --secret keel:secrets.STRIPE_API_KEY=VALUE")
        (secret if kind == "secret" else plain)[key.strip()] = value
    if pairs and pairs[-1] == ("marker", None):
        raise UsageError("--set needs KEY=VALUE (or --secret KEY=VALUE after it)",
                         "for example: --set keel:dbMultiAz=false")
    return plain, secret


def evaluated(stack: str, overrides: dict[str, str], secret_overrides: dict[str, str] | None = None):
    """The program's resources under mocks, or the config problems (one per line), or a short error."""
    try:
        if secret_overrides:
            return evaluate.evaluate_stack(stack, overrides=overrides or None, secret_overrides=secret_overrides)
        return evaluate.evaluate_stack(stack, overrides=overrides or None)
    except FileNotFoundError as error:
        raise UsageError(str(error), "stacks are the Pulumi.<stack>.yaml files at the repository root") from error
    except StackConfigError as error:
        raise ConfigErrors(stack, error.messages) from error
    except Exception as error:  # noqa: BLE001 - a program failure, shown as one message
        message = " ".join(str(error).split()) or type(error).__name__
        raise ProgramError(f"stack {stack}: the program failed under mocks: {message}", FIX_HINT) from error


def refuse_placeholders(stack: str, evaluation) -> None:
    """The committed example domain / zone / certificate: what `pulumi preview` refuses, refused here too."""
    project = evaluate.read_project(evaluate.repo_root()).get("name", "keel")
    secret_keys = getattr(evaluation, "secret_keys", ())
    problems = placeholder_problems(load(evaluation.config, stack, project, secret_keys))
    if problems:
        raise ConfigErrors(stack, problems, f"set your own with `pulumi config set`; to check the rest first, as CI "
                           f"does: keel check --stack {stack} --stand-ins")


def stand_in_overrides(stack: str, overrides: dict[str, str]) -> dict[str, str]:
    """--stand-ins: a stand-in for each entry-point key whose value (file or --set) is a committed example."""
    root = evaluate.repo_root()
    project = evaluate.read_project(root).get("name", "keel")
    try:
        config, _ = evaluate.read_stack_config(root, project, stack)
    except FileNotFoundError as error:
        raise UsageError(str(error), "stacks are the Pulumi.<stack>.yaml files at the repository root") from error
    except StackConfigError as error:
        raise ConfigErrors(stack, error.messages) from error
    config.update(overrides)
    region = config.get("aws:region", "us-east-1")
    return {f"{project}:{key}": make(stack, region) for key, make in STAND_INS.items()
            if EXAMPLE_VALUE.search(config.get(f"{project}:{key}") or "")}


def process_variables(evaluation) -> dict[str, dict[str, list[str]]]:
    """{process: {"environment": names, "secrets": names}}: what each container gets, never a value."""
    definitions = evaluation.container_definitions()
    return {process: {"environment": sorted(item["name"] for item in definitions[process]["environment"]),
                      "secrets": sorted(item["name"] for item in definitions[process]["secrets"])}
            for process in PROCESSES if process in definitions}


def variables_table(variables: dict[str, dict[str, list[str]]]) -> str:
    lines = ["VARIABLES (names only: environment = plain, secrets = ECS secrets from Secrets Manager)"]
    for process, names in variables.items():
        lines.append(f"{process:<8} environment: {' '.join(names['environment'])}")
        lines.append(f"{'':<8} secrets:     {' '.join(names['secrets'])}")
    lines.append("keel run and keel shell tasks get exactly release's (they run its task definition).")
    return "\n".join(lines)


def run(args: argparse.Namespace, context) -> int:
    plain, secret = parse_overrides(args.overrides)
    try:
        if args.stand_ins:
            stand_ins = stand_in_overrides(args.stack, plain)
            if stand_ins:
                context.err("keel: checking with stand-ins for the committed examples: "
                            + ", ".join(f"{k}={v}" for k, v in stand_ins.items()))
            plain = {**plain, **stand_ins}
        evaluation = evaluated(args.stack, plain, secret)
        refuse_placeholders(args.stack, evaluation)
    except ConfigErrors as error:
        for message in error.messages:  # one line each, whatever the program joined them with
            context.err(f"keel: {message}")
        context.err(f"keel: {error.hint.replace('Pulumi.<stack>.yaml', f'Pulumi.{args.stack}.yaml')}")
        return error.exit_code
    resources = [from_record(r) for r in evaluation.resources if getattr(r, "custom", True)]
    ctx = Context(stack=args.stack, preset=evaluation.config.get("keel:preset"))
    results = evaluate_rules(resources, ctx)
    variables = process_variables(evaluation)
    if args.json:
        document = json.loads(as_json(results, args.stack))
        document["variables"] = variables
        context.out(json.dumps(document, indent=2))
    else:
        context.out(variables_table(variables) + "\n\n" + table(results, args.stack))
    unsafe = getattr(args, "migrations_since", None) and not migrations_safe(args.migrations_since, context)
    return VIOLATIONS if failures(results) or unsafe else 0


def migrations_safe(since: str, context) -> bool:
    """The app's own check (manage.py migration_safety --since), through bin/manage; prints its lines."""
    command = [str(evaluate.repo_root() / "bin" / "manage"), "migration_safety", "--since", since]
    result = context.run_process(command, capture_output=True, text=True, check=False)
    context.out("\nMIGRATIONS (added since " + since + ")")
    for line in (result.stdout + result.stderr).splitlines():
        if line.strip():
            context.out(line)
    return result.returncode == 0
