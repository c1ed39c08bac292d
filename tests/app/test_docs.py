"""The README stays a short entry point, and every page it or docs/ links exists."""

from __future__ import annotations

import re

from .helpers import REPO_ROOT

PAGES = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(text: str) -> set[str]:
    outside_fences = re.sub(r"(?ms)^```.*?^```", "", text)
    return {_anchor(h) for h in re.findall(r"^#+ (.+)$", outside_fences, flags=re.M)}


def test_every_relative_link_resolves():
    broken = []
    for page in PAGES:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            if re.match(r"[a-z]+://", target):
                continue
            path, _, anchor = target.partition("#")
            linked = (page.parent / path).resolve() if path else page
            if not linked.exists():
                broken.append(f"{page.name}: {target}")
            elif anchor and linked.suffix == ".md" and anchor not in _anchors(linked.read_text()):
                broken.append(f"{page.name}: {target} (no such heading)")
    assert broken == []


def test_readme_opens_with_the_quick_start_and_the_aws_walkthrough():
    readme = (REPO_ROOT / "README.md").read_text()
    headings = re.findall(r"^## (.+)$", re.sub(r"(?ms)^```.*?^```", "", readme), flags=re.M)
    assert headings[:2] == ["Quick start", "Deploying to AWS"]
    assert "**Contents:**" in readme.split("## Quick start")[0]
    # The long references live in docs/ and the README links each of them.
    for page in ("stack-config", "release-phase", "security-and-delivery", "policy-rules", "parity", "benchmarks"):
        assert f"(docs/{page}.md)" in readme, page
    assert len(readme.splitlines()) < 200
    # The first screen (about 40 lines) reaches the AWS walk-through.
    assert readme.splitlines().index("## Deploying to AWS") < 40
