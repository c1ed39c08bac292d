"""The image tag changes whenever pulumi-docker would rebuild, and only then.

ECR tags are immutable (registry.py): a rebuild pushed under an existing tag is refused and fails
`pulumi up` until some source changes. pulumi-docker rebuilds when the `contextDigest` it adds to the
build inputs changes (pulumi/pulumi-docker, provider/provider.go: Check calls hashContext, which digests
the Dockerfile and every file the .dockerignore admits by path, fs.FileMode and content). These tests
make each kind of change that digest sees, in a copy of the real build context, and one it does not.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from keel.components.image import (
    ROOT,
    context_digest,
    context_files,
    go_file_mode,
    ignore_patterns,
    image_tag,
    is_ignored,
)


@pytest.fixture
def context(tmp_path) -> Path:
    """A copy of the repository's build context: Dockerfile, .dockerignore, Procfile, the app lock and
    a few app files, plus things the context must leave out."""
    for entry in ("Dockerfile", ".dockerignore", "Procfile", "requirements/app.txt", "app/manage.py",
                  "app/config/settings.py"):
        (tmp_path / entry).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / entry, tmp_path / entry)
    for ignored in ("tests/test_x.py", "infra/__main__.py", "app/config/__pycache__/settings.cpython-311.pyc",
                    "app/media/upload.bin", "app/staticfiles/app.css", "pyproject.toml"):
        (tmp_path / ignored).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / ignored).write_text("not in the image")
    os.chmod(tmp_path / "app/config/settings.py", 0o644)
    return tmp_path


def tag(context: Path) -> str:
    context_digest.cache_clear()
    try:
        return image_tag(context_digest(context), "linux/amd64", {})
    finally:
        context_digest.cache_clear()


def test_a_mode_only_change_gives_a_new_tag(context):
    """A chmod, or another umask on the machine that checked the repository out (0664 vs 0644), makes
    pulumi-docker rebuild: the push needs a tag of its own."""
    before = tag(context)
    os.chmod(context / "app/config/settings.py", 0o664)
    umask_002 = tag(context)
    assert umask_002 != before
    os.chmod(context / "app/config/settings.py", 0o755)
    assert tag(context) not in (before, umask_002)
    os.chmod(context / "app/config/settings.py", 0o644)
    assert tag(context) == before  # deterministic: the same context, the same tag, nothing pushed


def test_content_rename_and_dockerfile_changes_give_a_new_tag(context):
    before = tag(context)
    (context / "app/config/settings.py").write_text("changed = True\n")
    assert tag(context) != before
    after_edit = tag(context)
    (context / "app/config/settings.py").rename(context / "app/config/other.py")
    assert tag(context) != after_edit
    after_rename = tag(context)
    with (context / "Dockerfile").open("a") as dockerfile:
        dockerfile.write("\n# a comment is still another Dockerfile\n")
    assert tag(context) != after_rename


def test_a_symlink_is_digested_by_its_target(context):
    (context / "app/a.txt").write_text("same")
    (context / "app/b.txt").write_text("same")
    os.symlink("a.txt", context / "app/link")
    before = tag(context)
    os.remove(context / "app/link")
    os.symlink("b.txt", context / "app/link")
    assert tag(context) != before


def test_what_the_context_leaves_out_never_changes_the_tag(context):
    """Tests, infra, caches and uploads are not in the image: changing them pushes nothing new."""
    before = tag(context)
    for ignored in ("tests/test_x.py", "infra/__main__.py", "app/config/__pycache__/settings.cpython-311.pyc",
                    "app/media/upload.bin", "app/staticfiles/app.css", "pyproject.toml"):
        (context / ignored).write_text("changed")
        os.chmod(context / ignored, 0o755)
    assert tag(context) == before


def test_a_file_the_dockerignore_admits_later_changes_the_tag(context):
    before = tag(context)
    (context / "bin").mkdir()
    (context / "bin/tool").write_text("#!/bin/sh\n")
    assert tag(context) == before  # excluded by the allowlist's "*"
    with (context / ".dockerignore").open("a") as ignore:
        ignore.write("!bin/\n")
    assert tag(context) != before


def test_the_repositorys_context_is_the_dockerignore_allowlist():
    """The real context: the Procfile, the app lock and app/ without caches or local state."""
    files = list(context_files(ROOT))
    assert {"Procfile", "requirements/app.txt", "app/manage.py"} <= set(files)
    assert {f.split("/")[0] for f in files} == {"Procfile", "requirements", "app"}
    assert not [f for f in files if "__pycache__" in f or f.endswith(".pyc") or f.startswith(("app/media/",
                                                                                                "app/staticfiles/"))]


@pytest.mark.parametrize(("pattern", "path", "ignored"), [
    # moby/patternmatcher semantics (the matcher pulumi-docker's fsutil walk and docker build use)
    ("*", "Procfile", True),
    ("*", "app/x.py", True),  # a parent directory's match ignores what is below it
    ("app/**/__pycache__", "app/__pycache__/x.pyc", True),  # "**/" spans zero segments too
    ("app/**/__pycache__", "app/a/b/__pycache__/x.pyc", True),
    ("app/**/*.py[cod]", "app/a/x.pyc", True),
    ("app/**/*.py[cod]", "app/a/x.py", False),
    ("**/secret", "secret", True),
    ("docs/**", "docs/a/b.md", True),
    ("app/*.py", "app/a/b.py", False),  # "*" stays within one segment
    ("/Procfile", "Procfile", True),  # a leading slash is the context's root
    ("app/", "app/x.py", True),  # a trailing slash is cleaned away
])
def test_ignore_pattern_semantics(tmp_path, pattern, path, ignored):
    (tmp_path / ".dockerignore").write_text(pattern + "\n")
    assert is_ignored(path, ignore_patterns(tmp_path)) is ignored


def test_the_last_matching_line_wins_and_readmits(tmp_path):
    (tmp_path / ".dockerignore").write_text("*\n!app/\napp/**/__pycache__\n# comment\n\n")
    patterns = ignore_patterns(tmp_path)
    assert not is_ignored("app/x.py", patterns)
    assert is_ignored("app/a/__pycache__/x.pyc", patterns)
    assert is_ignored("tests/x.py", patterns)
    (tmp_path / "Dockerfile.dockerignore").write_text("tests\n")  # the Dockerfile's own ignore file wins
    assert not is_ignored("app/x.py", ignore_patterns(tmp_path))


def test_go_file_mode_strings():
    """What fs.FileMode.String() prints, which is what pulumi-docker digests."""
    assert go_file_mode(0o100644) == "-rw-r--r--"
    assert go_file_mode(0o100755) == "-rwxr-xr-x"
    assert go_file_mode(0o120777) == "Lrwxrwxrwx"
    assert go_file_mode(0) == "----------"


def test_image_tag_changes_with_the_platform_and_build_args(dev):
    """The same sources built for another platform are other bytes: they must not reuse a tag."""
    amd = image_tag("abc", "linux/amd64", {})
    assert image_tag("abc", "linux/arm64", {}) != amd
    assert image_tag("abc", "linux/amd64", {"PYTHON": "3.12"}) != amd
    assert image_tag("abc", "linux/amd64", {}) == amd
    (image,) = dev.by_type("docker:index/image:Image")
    assert image.inputs["build"]["platform"] == "linux/amd64"
    build_args = image.inputs["build"].get("args") or {}  # the revision label's GIT_REVISION in a checkout
    assert image.inputs["imageName"].endswith(":" + image_tag(context_digest(), "linux/amd64", build_args))


def evaluated_image_ref(root: Path) -> str:
    """The imageRef output of the dev stack evaluated from a copy of the repository at ``root`` (its own
    interpreter, so the copy's program digests the copy's build context)."""
    import json
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "keel.evaluate", "dev"], cwd=root, capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(root / "infra")}, timeout=300, check=True)
    outputs = json.loads(result.stdout[result.stdout.index("\n{") + 1:])
    return outputs["imageRef"]


def test_the_stack_pushes_a_mode_only_change_under_a_new_tag(tmp_path):
    """End to end: the program, evaluated from a checkout whose only change is a file mode, names another
    image (pulumi-docker sees another contextDigest and rebuilds: the push needs a tag of its own)."""
    for entry in ("infra", "app", "requirements", "policy"):
        shutil.copytree(ROOT / entry, tmp_path / entry, symlinks=True,
                        ignore=shutil.ignore_patterns("__pycache__", "staticfiles", "media", ".venv"))
    for entry in ("Dockerfile", ".dockerignore", "Procfile", "Pulumi.yaml", "Pulumi.dev.yaml", "pyproject.toml"):
        shutil.copy2(ROOT / entry, tmp_path / entry)
    os.chmod(tmp_path / "app/manage.py", 0o755)
    before = evaluated_image_ref(tmp_path)
    os.chmod(tmp_path / "app/manage.py", 0o775)  # the same checkout under umask 002
    after = evaluated_image_ref(tmp_path)
    assert before.split("@")[0] == after.split("@")[0] and before != after
