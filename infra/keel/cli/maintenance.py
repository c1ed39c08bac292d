"""`keel maintenance on|off|full --stack NAME`: maintenance mode, the same as `pulumi config set`.

It sets ``keel:maintenance`` (and ``keel:maintenanceAllow`` with --allow) on the stack, exactly as
``pulumi config set`` would, then runs ``pulumi up`` targeted at the resources maintenance mode
changes: the listeners, the page's function and target group, the rules, plus worker and beat
(and their scaling) when ``full`` is involved. Nothing else moves: no image build, no release, no deploy check, so the
switch takes a minute. Which URNs to target comes from evaluating the program under mocks with the
new setting (``keel.evaluate``), in the form the engine gives them. Pulumi shows its plan and asks
before it changes anything (``--yes`` skips the question).
"""

from __future__ import annotations

import argparse

from keel import evaluate

from .context import Context
from .errors import KeelError, UsageError
from .stack import PROJECT_DIR

MODES = {"on": "true", "off": "false", "full": "full"}
LISTENER_TYPES = ("aws:lb/listener:Listener", "aws:lb/listenerRule:ListenerRule")
STOPPED_IN_FULL = ("svc-worker", "svc-beat", "scale-worker")  # services and the scaling of worker


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "maintenance", help="turn maintenance mode on or off (a 503 page at the load balancer)",
        description="Set keel:maintenance on the stack and run a pulumi up targeted at the load balancer's "
        "listeners (and worker and beat for `full`). `on`: every request but /healthz and /readyz gets the "
        "maintenance page; worker and beat keep running. `full`: worker and beat stop too. `off`: serve again.")
    parser.add_argument("mode", choices=tuple(MODES), help="on, off or full")
    parser.add_argument("--stack", required=True, metavar="NAME", help="the Pulumi stack (dev, staging, prod)")
    parser.add_argument("--allow", action="append", default=[], metavar="CIDR",
                        help="a client network that still reaches the app (repeat, at most 5), e.g. your office")
    parser.add_argument("--yes", action="store_true", help="apply without Pulumi's confirmation prompt")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, context: Context) -> int:
    settings = {"keel:maintenance": MODES[args.mode]}
    if args.allow:
        settings["keel:maintenanceAllow"] = list(args.allow)
    if context.which("pulumi") is None:
        by_hand = [*config_commands(args.stack, settings), ["pulumi", "up", "--stack", args.stack]]
        raise KeelError("the Pulumi CLI is not installed (no `pulumi` on PATH)",
                        hint="or do it by hand where it is: " + " && ".join(" ".join(c) for c in by_hand))
    urns = targets(args.stack, settings)
    for command in config_commands(args.stack, settings):
        pulumi(context, command)
    context.err(f"keel: maintenance {args.mode} on {args.stack}: updating {len(urns)} resources "
                "(listeners" + (", worker and beat" if any("svc-worker" in u for u in urns) else "") + ")")
    up = ["pulumi", "up", "--stack", args.stack, *[f"--target={urn}" for urn in urns]] + (["--yes"] if args.yes else [])
    return pulumi(context, up, check=False)


def targets(stack: str, settings: dict) -> list[str]:
    """The engine URNs maintenance mode touches, between the stack now and with ``settings``: the
    listeners it repoints, every resource that exists on one side only (the page's function, its
    target group and rules, worker's scaling), and worker and beat when ``full`` is involved."""
    now, then = evaluated(stack, {}), evaluated(stack, settings)
    full = "full" in (current_mode(stack), settings["keel:maintenance"])
    urns_now, urns_then = ({r.engine_urn for r in ev.resources} for ev in (now, then))
    return sorted({r.engine_urn for ev in (now, then) for r in ev.resources
                   if r.engine_urn in urns_now ^ urns_then or r.type in LISTENER_TYPES
                   or (full and (r.name in STOPPED_IN_FULL or r.parent in STOPPED_IN_FULL))})


def current_mode(stack: str) -> str:
    """keel:maintenance as the stack file has it now ("false" when unset)."""
    try:
        config, _ = evaluate.read_stack_config(evaluate.repo_root(), "keel", stack)
    except FileNotFoundError as error:
        raise UsageError(str(error), "stacks are the Pulumi.<stack>.yaml files at the repository root") from None
    return str(config.get("keel:maintenance", "false")).lower()


def evaluated(stack: str, overrides: dict) -> evaluate.Evaluation:
    try:
        return evaluate.evaluate_stack(stack, overrides=overrides)
    except FileNotFoundError as error:
        raise UsageError(str(error), "stacks are the Pulumi.<stack>.yaml files at the repository root") from None
    except Exception as error:  # noqa: BLE001 - a config error: one message, as keel check gives it
        raise UsageError(f"stack {stack}: " + " ".join(str(error).split())) from None


def config_commands(stack: str, settings: dict) -> list[list[str]]:
    """`pulumi config set` commands writing ``settings`` as the CLI stores them (lists by --path)."""
    commands = []
    for key, value in settings.items():
        if isinstance(value, list):
            commands.append(["pulumi", "config", "rm", key, "--stack", stack])
            commands += [["pulumi", "config", "set", "--path", f"{key}[{i}]", item, "--stack", stack]
                         for i, item in enumerate(value)]
        else:
            commands.append(["pulumi", "config", "set", key, value, "--stack", stack])
    return commands


def pulumi(context: Context, command: list[str], check: bool = True) -> int:
    result = context.run_process(command, cwd=PROJECT_DIR, check=False)
    if check and result.returncode != 0 and command[2] != "rm":  # rm of an unset key fails harmlessly
        raise KeelError(f"`{' '.join(command)}` failed (exit {result.returncode})", hint="see Pulumi's message above")
    return result.returncode
