"""`keel check --stack NAME`: the policy pack's rules, offline.

Runs the Pulumi program under mocks with the committed stack file's config (keel.evaluate, no
AWS and no Pulumi CLI), evaluates every resource and stack rule of keel_policy against the
resulting resources, prints one row per finding (and one per clean rule), and exits 1 when a
mandatory rule is violated. The same rules run in `pulumi preview --policy-pack policy`.
"""

from __future__ import annotations

import argparse

from keel_policy.engine import evaluate as evaluate_rules
from keel_policy.engine import failures
from keel_policy.model import from_record
from keel_policy.registry import Context
from keel_policy.report import as_json, table

from keel import evaluate

from .errors import KeelError, UsageError

VIOLATIONS = 1  # exit code when a mandatory rule fails; usage and program errors exit 2


class ProgramError(KeelError):
    """The stack's program could not be evaluated (bad config, program bug): nothing was checked."""

    exit_code = 2


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "check", help="check a stack against the security rules, offline (Pulumi mocks, no AWS)",
        description="Evaluate the stack's program under Pulumi mocks with its committed Pulumi.<stack>.yaml and "
        "check every rule of the policy pack (docs/policy-rules.md). Exits 1 if a mandatory rule is violated.")
    parser.add_argument("--stack", required=True, help="stack name: reads Pulumi.<stack>.yaml")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                        help="override a config value for this check only, e.g. --set keel:dbMultiAz=false")
    parser.set_defaults(func=run)


def parse_overrides(pairs: list[str]) -> dict[str, str]:
    overrides = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--set {pair!r} is not KEY=VALUE", "for example: --set keel:dbMultiAz=false")
        overrides[key.strip()] = value
    return overrides


def evaluated(stack: str, overrides: dict[str, str]):
    """The program's resources under mocks, or a short error naming what to fix."""
    try:
        return evaluate.evaluate_stack(stack, overrides=overrides or None)
    except FileNotFoundError as error:
        raise UsageError(str(error), "stacks are the Pulumi.<stack>.yaml files at the repository root") from error
    except Exception as error:  # noqa: BLE001 - a config error or program failure, shown as one message
        message = " ".join(str(error).split()) or type(error).__name__
        raise ProgramError(f"stack {stack}: the program failed under mocks: {message}",
                        "fix the stack config named above (Pulumi.<stack>.yaml), or rerun with --debug") from error


def run(args: argparse.Namespace, context) -> int:
    evaluation = evaluated(args.stack, parse_overrides(args.overrides))
    resources = [from_record(r) for r in evaluation.resources if getattr(r, "custom", True)]
    ctx = Context(stack=args.stack, preset=evaluation.config.get("keel:preset"))
    results = evaluate_rules(resources, ctx)
    context.out(as_json(results, args.stack) if args.json else table(results, args.stack))
    return VIOLATIONS if failures(results) else 0
