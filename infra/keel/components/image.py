"""The app image: built from the repository's Dockerfile once per `pulumi up`, pushed to ECR.

Task definitions reference it by digest (``repo_digest``: repository@sha256:...), so every
process runs exactly the bytes that were built. The tag is a hash of the build inputs (the build
context as pulumi-docker digests it, the platform and the build arguments): ECR tags are immutable,
so whenever pulumi-docker would rebuild, the tag must be new, and the same inputs give the same tag,
so an unchanged app pushes nothing new.
"""

from __future__ import annotations

import functools
import hashlib
import os
import posixpath
import re
import stat
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pulumi
import pulumi_docker as docker

from keel.components import PACKAGE, child

ROOT = Path(__file__).resolve().parents[3]
DOCKERFILE = "Dockerfile"  # docker's default name at the context's root: the one this stack builds


# --- the build context as pulumi-docker sees it ---------------------------------------------------
# pulumi-docker (provider/provider.go, `hashContext`, called from Check) adds a `contextDigest` to the
# image's build inputs; a changed digest is a diff, and a diff rebuilds and pushes. The digest covers
# the Dockerfile's contents, then every file of the context that .dockerignore admits (walked with
# fsutil): its slash-separated relative path, its Go fs.FileMode string (so a chmod or another umask
# changes it) and the SHA-256 of its contents (of its target's path for a symlink). The tag below
# covers the same inputs, so a rebuild never pushes other bytes under an existing tag.


@dataclass(frozen=True)
class IgnorePattern:
    """One .dockerignore line, matched the way moby's patternmatcher matches it."""

    text: str  # cleaned: no leading "/", no trailing "/", no "!"
    reinclude: bool  # a "!" line: admits again what earlier lines excluded

    @functools.cached_property
    def _match(self):
        text = self.text
        if text.endswith("**") and not any(c in text[:-2] for c in "*?[]\\"):
            prefix = text[:-2]  # "dir/**": everything under dir (patternmatcher's prefix match)
            return lambda path: path.startswith(prefix)
        if text.startswith("**") and not any(c in text[2:] for c in "*?[]\\"):
            suffix = text[2:]  # "**/name" (patternmatcher's suffix match): also the bare name
            return lambda path: path.endswith(suffix) or (suffix.startswith("/") and path == suffix[1:])
        return re.compile(_pattern_regex(text)).fullmatch

    def matches(self, path: str) -> bool:
        """Whether the pattern matches ``path`` or one of its parent directories."""
        parts = path.split("/")
        return any(self._match("/".join(parts[:i])) for i in range(len(parts), 0, -1))


def _pattern_regex(text: str) -> str:
    """``*`` and ``?`` stay within one path segment, ``**`` spans any number of them (even none),
    ``[...]`` is a class and a backslash escapes the next character."""
    out, i = "", 0
    while i < len(text):
        ch = text[i]
        if text.startswith("**", i):
            i += 2
            if text.startswith("/", i):
                i += 1
            out += ".*" if i >= len(text) else "(.*/)?"
            continue
        if ch == "*":
            out += "[^/]*"
        elif ch == "?":
            out += "[^/]"
        elif ch == "\\" and i + 1 < len(text):
            i += 1
            out += re.escape(text[i])
        elif ch in "[]":
            out += ch
        else:
            out += re.escape(ch)
        i += 1
    return out


def ignore_patterns(context: Path) -> list[IgnorePattern]:
    """The context's ignore rules: ``Dockerfile.dockerignore`` if present, else ``.dockerignore``
    (pulumi-docker's getIgnorePatterns; moby's ignorefile.ReadAll for the line syntax)."""
    for candidate in (context / f"{DOCKERFILE}.dockerignore", context / ".dockerignore"):
        if candidate.is_file():
            break
    else:
        return []
    patterns = []
    for line in candidate.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        reinclude = line.startswith("!")
        text = posixpath.normpath(line[1:].strip() if reinclude else line)
        patterns.append(IgnorePattern(text[1:] if len(text) > 1 and text.startswith("/") else text, reinclude))
    return patterns


def is_ignored(path: str, patterns: list[IgnorePattern]) -> bool:
    """Whether the context leaves ``path`` out: the last pattern that can change the verdict wins."""
    ignored = False
    for pattern in patterns:
        if pattern.reinclude == ignored and pattern.matches(path):
            ignored = not pattern.reinclude
    return ignored


def _may_readmit_under(directory: str, patterns: list[IgnorePattern]) -> bool:
    """Whether a "!" line could admit something below an ignored directory (then it is walked)."""
    return any(p.reinclude and (p.text.startswith(directory + "/") or any(c in p.text for c in "*?[\\"))
               for p in patterns)


def context_files(context: Path) -> Iterator[str]:
    """The relative paths of the files (and symlinks) the build context holds, in walk order."""
    patterns = ignore_patterns(context)

    def walk(directory: Path, relative: str) -> Iterator[str]:
        for entry in sorted(os.scandir(directory), key=lambda e: e.name):
            path = f"{relative}/{entry.name}" if relative else entry.name
            if entry.is_dir(follow_symlinks=False):
                if not is_ignored(path, patterns) or _may_readmit_under(path, patterns):
                    yield from walk(Path(entry.path), path)
            elif not is_ignored(path, patterns):
                yield path

    yield from walk(context, "")


def go_file_mode(mode: int) -> str:
    """Go's fs.FileMode.String() of an lstat mode: "-rw-r--r--", "-rwxr-xr-x", "Lrwxrwxrwx", "u-rwsr-xr-x"..."""
    kind = "L" if stat.S_ISLNK(mode) else ""
    kind += "u" if mode & stat.S_ISUID else ""
    kind += "g" if mode & stat.S_ISGID else ""
    kind += "t" if mode & stat.S_ISVTX else ""
    permissions = "".join(flag if mode & (0o400 >> i) else "-" for i, flag in enumerate("rwxrwxrwx"))
    return (kind or "-") + permissions


def _entry(name: str, mode: str, body: bytes) -> bytes:
    return name.encode() + mode.encode() + hashlib.sha256(body).digest() + b"\0"


@functools.lru_cache(maxsize=4)
def context_digest(context: Path = ROOT) -> str:
    """A digest of what pulumi-docker digests: the Dockerfile, then each admitted file's path, mode and
    contents (a symlink: where it points)."""
    digest = hashlib.sha256(_entry(DOCKERFILE, go_file_mode(0), (context / DOCKERFILE).read_bytes()))
    for relative in context_files(context):
        path = context / relative
        mode = path.lstat().st_mode
        if stat.S_ISLNK(mode):
            body = f"{os.readlink(path)} -> {os.path.relpath(os.path.realpath(path), context)}".encode()
        else:
            body = path.read_bytes()
        digest.update(_entry(relative, go_file_mode(mode), body))
    return digest.hexdigest()[:16]


def source_revision(context: Path = ROOT) -> str | None:
    """The git commit the image's sources come from: the newest commit that touched a file of the build
    context, with "-dirty" when one of them has uncommitted changes; None outside a git checkout.

    Only context files count, so a commit that changes nothing the image holds keeps the revision,
    and with it the tag: no rebuild, no release.
    """
    files = list(context_files(context))

    def git(*args: str) -> str | None:
        try:
            result = subprocess.run(["git", "-C", str(context), *args, "--", DOCKERFILE, *files],
                                    capture_output=True, text=True, timeout=30, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return result.stdout.strip() if result.returncode == 0 else None

    commit = git("log", "-1", "--format=%H")
    if not commit:
        return None
    return commit + ("-dirty" if git("status", "--porcelain") else "")


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
    # Dockerfile ARGs; GIT_REVISION labels the image (org.opencontainers.image.revision).
    build_args: dict[str, str] = field(default_factory=dict)
    tag: str | None = None  # default: the hash of the build context, platform and build args


class Image(pulumi.ComponentResource):
    ref: pulumi.Output[str]  # repository@sha256:...

    def __init__(self, name: str, args: ImageArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{PACKAGE}:image:Image", name, None, opts)
        tag = args.tag or image_tag(context_digest(), args.platform, args.build_args)
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
