"""`keel rollback --stack NAME [--to DIGEST | --steps N]`: go back to an older image, knowing the schema.

1. The target: ``--to`` a digest, or the image ``--steps`` (default 1) before the deployed one in
   the stack's ECR repository, by push time (every build and promotion pushes there).
2. The schema: a one-off task of the *older* image lists the migrations it knows (Django's own
   ``showmigrations --list``, which every image has, however old); a one-off task of the deployed
   image compares them with what the database has applied (``rollback_check``), and says of each
   migration the older code does not know whether that code can run with it (docs/migrations.md's
   rules) and whether it can be unapplied.
3. If the database is ahead, it refuses, unless ``--migrate-back`` (unapply them first, in a
   release-like task under the release's lock: all must be reversible) or ``--force``.
4. It pins the stack to the older digest (``keel:image``, as `pulumi config set` would) and runs
   ``pulumi up``, which asks before it changes anything (``--yes`` skips the question). The release
   gate then runs the older image's migrations: nothing to apply.

One-off tasks are copies of the release task (keel.cli.oneoff, the runner keel run and the release
gate share); the older image runs from a copy of the release task definition with only its image
changed (family ``<release family>-rollback``, deregistered afterwards).
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
from typing import Any

from botocore.exceptions import ClientError

from keel import outputs as out
from keel.ecr_copy import CopyError, ImageRef, image_config
from keel.evaluate import read_stack_config, repo_root
from keel.migration_state import leaves_from_showmigrations, result_from_lines, to_arguments
from keel.tasks import family_of

from . import oneoff
from .context import Context
from .errors import KeelError, UsageError
from .promote import REVISION_LABEL
from .run import refuse_during_release
from .stack import PROJECT_DIR, add_stack_arguments, load

DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
STARTED_BY = "keel-rollback"
REFUSED = 1


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "rollback", help="deploy an older image of the stack, after checking the database's schema",
        description="Pin the stack to an older image (keel:image) and run pulumi up, after checking that the "
        "database has no migration the older code does not know (or unapplying them with --migrate-back).")
    add_stack_arguments(parser)
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--to", metavar="DIGEST", help="the image to go back to (sha256:...)")
    which.add_argument("--steps", type=int, default=1, metavar="N", help="go back N images (default 1)")
    how = parser.add_mutually_exclusive_group()
    how.add_argument("--migrate-back", action="store_true",
                     help="first unapply the migrations the older image does not know (all must be reversible)")
    how.add_argument("--force", action="store_true", help="roll back although the database is ahead of the older code")
    parser.add_argument("--yes", action="store_true", help="deploy without Pulumi's confirmation prompt")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, context: Context) -> int:
    check_arguments(args)
    outputs = load(args, context)
    try:
        current = ImageRef.parse(outputs.values.get(out.IMAGE_REF) or "")
    except CopyError as error:
        raise KeelError(f"stack {outputs.name}: {error}") from None
    ecr = context.client("ecr", outputs.region)
    target = target_image(ecr, current, args.to, args.steps)
    context.err(f"keel: rolling {outputs.name} back from {current.digest[:19]} to {target.digest[:19]}")
    runner = oneoff.runner(context, outputs)
    refuse_during_release(runner, outputs)

    leaves = leaves_from_showmigrations(older_image_lines(context, runner, outputs, target))
    report = check(context, runner, outputs, to_arguments(leaves))
    ahead = report["ahead"]
    for line in describe(ahead):
        context.err(f"keel: {line}")
    if ahead and not (args.migrate_back or args.force):
        hint = ("--migrate-back unapplies them first" if all(m["reversible"] for m in ahead)
                else "some cannot be unapplied: fix forward instead, or --force if the older code copes")
        context.err(f"keel: refused: the database has {len(ahead)} migration(s) the older image does not know; {hint}")
        return REFUSED
    migrated_back = []
    if ahead and args.migrate_back:
        # Unapplying changes the database for good: ask before it, not only at pulumi up's prompt.
        if not (args.yes or confirmed(f"unapply {len(ahead)} migration(s) and deploy {target.digest[:19]}?")):
            context.err("keel: nothing changed (pass --yes to answer yes without a prompt)")
            return REFUSED
        migrate_back(context, runner, outputs, to_arguments(leaves), ahead)
        migrated_back = [m["migration"] for m in ahead]
    elif ahead:
        context.err("keel: --force: rolling back with the database ahead of the older code")
    code = deploy(context, outputs, ecr, target, args.yes or bool(migrated_back))
    if code != 0 and migrated_back:
        context.err(f"keel: the deploy did not happen, but the database was migrated back ({', '.join(migrated_back)}); "
                    f"the deployed code expects them: re-apply with `keel run --stack {outputs.name} -- python "
                    "manage.py migrate`")
    return code


def check_arguments(args: argparse.Namespace) -> None:
    """Bad --to/--steps are said before anything is looked up."""
    if args.to and not DIGEST.match(args.to.rsplit("@", 1)[-1]):
        raise UsageError(f"--to {args.to!r} is not a digest", hint="give sha256:<64 hex digits> (see `keel status`)")
    if args.steps < 1:
        raise UsageError(f"--steps {args.steps} is invalid: allowed 1 or more")


def confirmed(question: str) -> bool:
    """A yes from the person at the terminal; never from a pipe or CI."""
    if not sys.stdin.isatty():
        return False
    return input(f"keel: {question} [y/N] ").strip().lower() in ("y", "yes")


def target_image(ecr, current: ImageRef, to: str | None, steps: int) -> ImageRef:
    """The image to go back to, in the same repository as the deployed one."""
    if to:
        return ImageRef(current.registry, current.repository, to.rsplit("@", 1)[-1])
    # Tagged images only: each build and promotion tags the image it pushes, while the manifests an
    # index points to (platforms, attestations) are untagged and must not count as a step.
    images = sorted((d for page in ecr.get_paginator("describe_images").paginate(
        registryId=current.account, repositoryName=current.repository, filter={"tagStatus": "TAGGED"})
        for d in page["imageDetails"]), key=lambda d: d["imagePushedAt"], reverse=True)
    digests = list(dict.fromkeys(d["imageDigest"] for d in images))
    if current.digest not in digests:
        raise KeelError(f"the deployed image {current.digest} is not in {current.repository}",
                        hint="pass --to DIGEST")
    position = digests.index(current.digest) + steps
    if position >= len(digests):
        raise KeelError(f"{current.repository} holds {len(digests) - digests.index(current.digest) - 1} older image(s), "
                        f"not {steps}", hint="pass a smaller --steps, or --to DIGEST")
    return ImageRef(current.registry, current.repository, digests[position])


def older_image_lines(context: Context, runner, outputs, target: ImageRef) -> list[str]:
    """`showmigrations --list` in the older image: a copy of the release task definition with its image."""
    ecs = context.client("ecs", outputs.region)
    arn = register_with_image(ecs, outputs.task_definition(oneoff.PROCESS), outputs.container(oneoff.PROCESS),
                              str(target))
    try:
        return one_off(context, runner, outputs, ["python", "manage.py", "showmigrations", "--list"],
                       task_definition=arn, what="the older image's migrations")
    finally:
        ecs.deregister_task_definition(taskDefinition=arn)


def register_with_image(ecs, task_definition: str, container: str, image: str) -> str:
    """A new task definition, ``<family>-rollback``, identical to ``task_definition`` but for ``image``."""
    described = ecs.describe_task_definition(taskDefinition=task_definition, include=["TAGS"])
    accepted = ecs.meta.service_model.operation_model("RegisterTaskDefinition").input_shape.members
    request: dict[str, Any] = {k: v for k, v in described["taskDefinition"].items() if k in accepted}
    request["family"] = f"{family_of(task_definition)}-rollback"
    request["containerDefinitions"] = [{**c, "image": image} if c["name"] == container else c
                                       for c in request["containerDefinitions"]]
    if described.get("tags"):
        request["tags"] = described["tags"]
    return ecs.register_task_definition(**request)["taskDefinition"]["taskDefinitionArn"]


def check(context: Context, runner, outputs, to: list[str]) -> dict:
    lines = one_off(context, runner, outputs, ["python", "manage.py", "rollback_check", *to],
                    what="the database's migrations")
    found = result_from_lines(lines)
    if found is None:
        raise KeelError("rollback_check printed no result", hint="is the deployed image older than keel rollback?")
    return found


def migrate_back(context: Context, runner, outputs, to: list[str], ahead: list[dict]) -> None:
    stuck = [m["migration"] for m in ahead if not m["reversible"]]
    if stuck:
        raise KeelError(f"cannot migrate back: {', '.join(stuck)} cannot be unapplied (no reverse)",
                        hint="fix forward instead, or --force if the older code copes with the newer schema")
    context.err(f"keel: unapplying {len(ahead)} migration(s) in the deployed image, under the release lock")
    one_off(context, runner, outputs, ["python", "manage.py", "rollback_check", *to, "--migrate-back"],
            what="migrating back", echo=True)


def one_off(context: Context, runner, outputs, command: list[str], *, what: str,
            task_definition: str | None = None, echo: bool = False) -> list[str]:
    """Run ``command`` as a one-off task; its log lines, or a KeelError saying how it failed."""
    spec = oneoff.task_spec(outputs, command, started_by=STARTED_BY)
    if task_definition:
        spec = dataclasses.replace(spec, task_definition=task_definition)
    lines: list[str] = []

    def keep(line) -> None:
        lines.append(line.message)
        if echo:
            context.out(line.message)

    result = runner.run(spec, logs=oneoff.log_source(outputs), on_log=keep)
    if not result.succeeded:
        raise KeelError(f"{what}: {result.failure_message()}")
    return lines


def describe(ahead: list[dict]) -> list[str]:
    """One line per migration the older image does not know."""
    if not ahead:
        return ["the database has no migration the older image does not know"]
    return [f"{m['migration']}: " + ("backwards compatible" if not m["problems"] else
                                      "breaks the older code (" + ", ".join(m["problems"]) + ")") +
            ("; reversible" if m["reversible"] else "; cannot be unapplied") for m in ahead]


def deploy(context: Context, outputs, ecr, target: ImageRef, yes: bool) -> int:
    """Pin the stack to ``target`` and run pulumi up; if the up fails or is declined, unpin again."""
    try:
        revision = (image_config(ecr, target).get("config") or {}).get("Labels", {}).get(REVISION_LABEL)
    except (CopyError, ClientError, KeyError, ValueError) as error:
        context.err(f"keel: could not read the image's revision label ({error}); the stack will show none")
        revision = None
    stack = outputs.name
    before = pinned_now(stack)
    pin = {"keel:image": str(target), "keel:imageRevision": revision if revision != "unknown" else None}
    up = ["pulumi", "up", "--stack", stack] + (["--yes"] if yes else [])
    if context.which("pulumi") is None:
        raise KeelError("the Pulumi CLI is not installed (no `pulumi` on PATH)",
                        hint="run these where you deploy: " + " && ".join(
                            " ".join(c) for c in [*config_commands(stack, pin), up]))
    for command in config_commands(stack, pin):
        context.run_process(command, cwd=PROJECT_DIR, check=False)
    code = context.run_process(up, cwd=PROJECT_DIR, check=False).returncode
    if code != 0:
        for command in config_commands(stack, before):
            context.run_process(command, cwd=PROJECT_DIR, check=False)
        context.err(f"keel: pulumi up did not complete (exit {code}): {stack} is pinned back to what it was")
    return code


def pinned_now(stack: str) -> dict[str, str | None]:
    """keel:image and keel:imageRevision as the stack file has them (None: unset)."""
    try:
        config, _ = read_stack_config(repo_root(), "keel", stack)
    except FileNotFoundError:
        config = {}
    return {key: config.get(key) for key in ("keel:image", "keel:imageRevision")}


def config_commands(stack: str, values: dict[str, str | None]) -> list[list[str]]:
    """`pulumi config set` (or `rm` for None) for each key."""
    return [["pulumi", "config", "set", key, value, "--stack", stack] if value is not None
            else ["pulumi", "config", "rm", key, "--stack", stack] for key, value in values.items()]
