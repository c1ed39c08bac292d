"""`keel promote --from staging --to prod`: deploy to prod exactly the image staging runs.

1. Reads the source stack's deployed image (its ``imageRef`` output, by digest; a tag-only
   reference is refused, since a tag can move) and the target stack's ECR repository.
2. Copies the image into the target repository by digest (``keel.ecr_copy``: same manifest, same
   digest, across accounts and regions), tagged as in the source; the repository stays immutable.
3. Pins the target stack to it, as `pulumi config set` would: ``keel:image`` (the digest in the
   target's repository) and ``keel:imageRevision`` (the image's revision label).

Then ``pulumi up --stack prod`` builds nothing: every task definition runs that digest, and the
release gate runs that image's migrations first.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from keel import outputs as out
from keel.ecr_copy import CopyError, ImageRef, copy_image, image_config

from .context import Context
from .errors import KeelError, UsageError
from .stack import PROJECT_DIR, load

REVISION_LABEL = "org.opencontainers.image.revision"


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "promote", help="copy the image a stack runs to another stack, by digest, and pin it there",
        description="Copy the image the --from stack runs into the --to stack's ECR repository (same digest) "
        "and set keel:image on the --to stack, so its next `pulumi up` deploys exactly those bytes.")
    parser.add_argument("--from", dest="source", required=True, metavar="STACK", help="the stack whose image to copy")
    parser.add_argument("--to", dest="target", required=True, metavar="STACK", help="the stack to pin it on")
    parser.add_argument("--from-outputs", type=Path, metavar="FILE", help="the source's `pulumi stack output --json`")
    parser.add_argument("--to-outputs", type=Path, metavar="FILE", help="the target's `pulumi stack output --json`")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, context: Context) -> int:
    if args.source == args.target:
        raise UsageError("--from and --to name the same stack", hint="promote from one stack to another")
    source = outputs_of(args.source, args.from_outputs, "--from-outputs", context)
    target = outputs_of(args.target, args.to_outputs, "--to-outputs", context)
    try:
        image = ImageRef.parse(source.values.get(out.IMAGE_REF) or "")
    except CopyError as error:
        raise KeelError(f"stack {args.source}: {error}",
                        hint=f"deploy {args.source} with a current Keel (it exports its image by digest)") from None
    repository_url = target.values.get(out.REPOSITORY_URL) or ""
    registry, _, repository = repository_url.partition("/")
    if not repository:
        raise KeelError(f"stack {args.target} has no {out.REPOSITORY_URL} output",
                        hint=f"deploy {args.target} once (`pulumi up --stack {args.target}`) so its repository exists")
    source_ecr = context.client("ecr", source.region)
    target_ecr = context.client("ecr", target.region)
    tag = _source_tag(source_ecr, image)
    try:
        revision = (image_config(source_ecr, image).get("config") or {}).get("Labels", {}).get(REVISION_LABEL)
        context.err(f"keel: copying {image.digest} (revision {revision or 'unknown'}) from {args.source} "
                    f"to {repository_url}")
        digest = copy_image(source_ecr, image, target_ecr, repository, registry.split(".", 1)[0], tag)
    except CopyError as error:
        raise KeelError(str(error)) from None
    pinned = f"{repository_url}@{digest}"
    _pulumi_config_set(context, args.target, "keel:image", pinned)
    if revision and revision != "unknown":
        _pulumi_config_set(context, args.target, "keel:imageRevision", revision)
    else:  # no label: a revision left from an earlier pin would be wrong
        _pulumi_config_set(context, args.target, "keel:imageRevision", None)
    context.out(pinned)
    context.err(f"keel: {args.target} is pinned to it; deploy with `pulumi up --stack {args.target}` (to build from "
                f"source again: {UNPIN.format(stack=args.target)})")
    return 0


UNPIN = "pulumi config rm keel:image --stack {stack} && pulumi config rm keel:imageRevision --stack {stack}"


def outputs_of(stack: str, path, flag: str, context: Context):
    """A stack's outputs; the hints name this command's own --from-outputs/--to-outputs."""
    try:
        return load(argparse.Namespace(stack=stack, outputs=path), context)
    except KeelError as error:
        if error.hint:
            error.hint = error.hint.replace("--outputs", flag)
        raise


def _source_tag(ecr, image: ImageRef) -> str | None:
    """The source's tag for the digest, reused in the target so its lifecycle rules keep it."""
    found = ecr.describe_images(registryId=image.account, repositoryName=image.repository,
                                imageIds=[{"imageDigest": image.digest}])["imageDetails"]
    tags = found[0].get("imageTags") if found else None
    return sorted(tags)[0] if tags else None


def _pulumi_config_set(context: Context, stack: str, key: str, value: str | None) -> None:
    """`pulumi config set KEY VALUE`, or `pulumi config rm KEY` for None (an unset key is fine)."""
    command = ["pulumi", "config", "set", key, value, "--stack", stack] if value is not None \
        else ["pulumi", "config", "rm", key, "--stack", stack]
    if context.which("pulumi") is None:
        context.err(f"keel: no Pulumi CLI here: run `{' '.join(command)}` where you deploy")
        return
    result = context.run_process(command, cwd=PROJECT_DIR, check=False)
    if result.returncode != 0 and value is not None:
        raise KeelError(f"`{' '.join(command)}` failed (exit {result.returncode})", hint="see Pulumi's message above")
