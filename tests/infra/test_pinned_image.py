"""keel:image: a stack pinned to a digest builds nothing and runs exactly that image everywhere."""

from __future__ import annotations

import json
import subprocess

import pytest
from keel.components.image import source_revision
from keel.evaluate import ACCOUNT, evaluate_stack, repo_root
from keel.stack_config import StackConfigError, load

DIGEST = "sha256:" + "ab" * 32
PROD_IMAGE = f"{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com/keel-prod-cmk@{DIGEST}"  # prod: keel:kmsKey on


def images(ev) -> set[str]:
    return {json.loads(r.inputs["containerDefinitions"])[0]["image"] for r in ev.task_definitions().values()}


def prod_region() -> str:
    return evaluate_stack("prod").outputs["region"]


def test_a_pinned_stack_builds_no_image_and_every_task_runs_the_digest():
    image = PROD_IMAGE.replace("eu-west-1", prod_region())
    ev = evaluate_stack("prod", overrides={"keel:image": image, "keel:imageRevision": "0123abc"})

    assert ev.by_type("docker:index/image:Image") == []
    assert images(ev) == {image}
    assert ev.outputs["imageRef"] == image and ev.outputs["imageRevision"] == "0123abc"


def test_without_a_pin_the_stack_builds_and_labels_the_image_with_its_revision(stack):
    (built,) = stack.by_type("docker:index/image:Image")
    revision = source_revision()
    assert stack.outputs["imageRevision"] == revision
    if revision:  # a git checkout: the label's build argument
        assert built.inputs["build"]["args"] == {"GIT_REVISION": revision}


def test_the_revision_is_the_last_commit_that_touched_the_image(tmp_path):
    """A commit outside the build context (docs, infra) keeps the revision, and so the tag."""
    root = repo_root()
    for name in ("Dockerfile", ".dockerignore", "Procfile"):
        (tmp_path / name).write_bytes((root / name).read_bytes())
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "x.py").write_text("x = 1\n")

    def git(*args):
        return subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True, text=True).stdout

    git("init", "-q")
    git("-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qm", "image", "--allow-empty")
    git("add", "-A")
    git("-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qm", "app")
    app_commit = git("rev-parse", "HEAD").strip()
    (tmp_path / "README.md").write_text("docs\n")
    git("add", "README.md")
    git("-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qm", "docs")

    assert source_revision(tmp_path) == app_commit
    (tmp_path / "app" / "x.py").write_text("x = 2\n")
    assert source_revision(tmp_path) == app_commit + "-dirty"


@pytest.mark.parametrize(("image", "fragment"), [
    (PROD_IMAGE.replace(f"@{DIGEST}", ":latest"), "an ECR image by digest"),
    (PROD_IMAGE.replace("keel-prod", "keel-staging"), "allowed only this stack's repository keel-prod"),
    (PROD_IMAGE.replace("eu-west-1", "us-east-1"), "allowed only this stack's repository keel-prod-cmk in eu-west-1"),
])
def test_a_tag_or_another_repository_is_refused_in_one_line(image, fragment):
    with pytest.raises(StackConfigError) as caught:
        load({"aws:region": "eu-west-1", "keel:domain": "app.example.org", "keel:hostedZoneId": "Z123",
              "keel:image": image}, "prod")
    assert len(caught.value.messages) == 1
    assert caught.value.messages[0].startswith("keel:image = ") and fragment in caught.value.messages[0]
    assert "keel promote" in caught.value.messages[0]


def test_a_revision_without_an_image_is_refused():
    with pytest.raises(StackConfigError, match="keel:imageRevision"):
        load({"aws:region": "eu-west-1", "keel:imageRevision": "0123abc"}, "dev")
