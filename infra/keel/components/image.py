"""The app image: built from the repository's Dockerfile once per `pulumi up`, pushed to ECR.

Task definitions reference it by digest (``repo_digest``: repository@sha256:...), so every
process runs exactly the bytes that were built. The tag is a hash of the build inputs (sources,
platform and build arguments): ECR tags are immutable, and the same inputs give the same tag, so an
unchanged app pushes nothing new, and a different platform or argument never reuses a tag.
"""

from __future__ import annotations

import functools
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import pulumi
import pulumi_docker as docker

from keel.components import PACKAGE, child

ROOT = Path(__file__).resolve().parents[3]
# A superset of the build context (.dockerignore is an allowlist of Procfile, requirements/app.txt and
# app/): whenever pulumi-docker would rebuild, the tag changes too, so a rebuild never pushes a new
# digest to an existing immutable tag.
BUILD_INPUTS = ("Dockerfile", ".dockerignore", "Procfile", "pyproject.toml", "requirements/app.txt", "app")
# Never in the build context (.dockerignore): caches and local state under app/.
SKIPPED_DIRS = frozenset({"__pycache__", ".pytest_cache", ".ruff_cache", ".mypy_cache"})
SKIPPED_TREES = (Path("app/media"), Path("app/staticfiles"))
SKIPPED_SUFFIXES = (".pyc", ".pyo", ".pyd")


@functools.lru_cache(maxsize=4)
def source_hash(root: Path = ROOT) -> str:
    """A short hash of the build inputs' paths and contents."""
    digest = hashlib.sha256()
    for entry in BUILD_INPUTS:
        path = root / entry
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            relative = file.relative_to(root)
            if (not file.exists() or SKIPPED_DIRS & set(relative.parts[:-1]) or file.suffix in SKIPPED_SUFFIXES
                    or any(relative.is_relative_to(tree) for tree in SKIPPED_TREES)):
                continue
            digest.update(str(relative).encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def image_tag(sources: str, platform: str, build_args: dict[str, str]) -> str:
    """The tag for these sources built for ``platform`` with ``build_args``: anything that changes the
    image's bytes changes the tag, so a rebuild never pushes a different image to an existing tag."""
    inputs = "\n".join([sources, platform, *(f"{k}={v}" for k, v in sorted(build_args.items()))])
    return hashlib.sha256(inputs.encode()).hexdigest()[:16]


@dataclass
class ImageArgs:
    repository_url: pulumi.Input[str]
    registry_server: pulumi.Input[str]
    registry_username: pulumi.Input[str]
    registry_password: pulumi.Input[str]  # the ECR authorization token's password (secret)
    platform: str = "linux/amd64"  # Fargate X86_64; also right when building on Apple Silicon
    build_args: dict[str, str] = field(default_factory=dict)  # Dockerfile ARGs (none today)
    tag: str | None = None  # default: the hash of the build inputs


class Image(pulumi.ComponentResource):
    ref: pulumi.Output[str]  # repository@sha256:...

    def __init__(self, name: str, args: ImageArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{PACKAGE}:image:Image", name, None, opts)
        tag = args.tag or image_tag(source_hash(), args.platform, args.build_args)
        # Relative to the program's working directory: state stays the same on every machine.
        context = os.path.relpath(ROOT, Path.cwd())
        self.image = docker.Image(
            f"{name}-image",
            image_name=pulumi.Output.concat(args.repository_url, ":", tag),
            # The Dockerfile at the context's root is docker's default; no path to get wrong.
            build=docker.DockerBuildArgs(context=context, platform=args.platform, args=args.build_args or None),
            # A preview should not need Docker or push anything; the digest is known after `up`.
            build_on_preview=False,
            registry=docker.RegistryArgs(server=args.registry_server, username=args.registry_username,
                                         password=pulumi.Output.secret(args.registry_password)),
            opts=child(self))
        self.ref = self.image.repo_digest
        self.tag = tag
        self.register_outputs({"ref": self.ref})
