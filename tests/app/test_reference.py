"""Documentation that must match the contract exactly, and locks that must match pyproject."""

from __future__ import annotations

import re
import tomllib

from config import contract, reference

from .helpers import REPO_ROOT


def test_env_example_matches_the_contract():
    text = (REPO_ROOT / ".env.example").read_text()
    assert text == reference.env_example(), "run `python -m config.reference` from app/"
    names = re.findall(r"^# ([A-Z][A-Z0-9_]+)=", text, flags=re.M)
    assert names == [var.name for var in contract.CONTRACT]


def test_docs_config_reference_matches_the_contract():
    section = reference.page_section((REPO_ROOT / "docs" / "configuration.md").read_text())
    assert section == reference.markdown_section(), "run `python -m config.reference` from app/"
    names = re.findall(r"^\| `([A-Z][A-Z0-9_]+)` \|", section, flags=re.M)
    assert names == [var.name for var in contract.CONTRACT]


def test_env_example_holds_no_credential_values():
    from urllib.parse import urlsplit

    for line in (REPO_ROOT / ".env.example").read_text().splitlines():
        name, _, value = line.removeprefix("# ").partition("=")
        if name in contract.secret_names() and value:
            assert "://" in value and urlsplit(value).password in (None, "password"), line


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared(requirement: str) -> str:
    return _normalise(re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0])


def _locked(path) -> set[str]:
    return {_normalise(m) for m in re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==", path.read_text(), flags=re.M)}


def test_every_declared_dependency_is_in_its_lock():
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    sets = {"app": pyproject["project"]["dependencies"], **pyproject["dependency-groups"]}
    missing = []
    for name, requirements in sets.items():
        lock = REPO_ROOT / "requirements" / f"{name}.txt"
        assert lock.exists(), f"{lock.name} is missing: run bin/lock"
        locked = _locked(lock)
        missing += [f"{_declared(r)} (requirements/{lock.name})" for r in requirements if _declared(r) not in locked]
    assert missing == [], f"declared in pyproject.toml but not locked, run bin/lock: {missing}"


def test_lock_check_would_catch_a_missing_package(tmp_path):
    lock = tmp_path / "app.txt"
    lock.write_text("django==5.2.1 \\\n    --hash=sha256:00\n")
    assert _declared("django>=5.2,<5.3") in _locked(lock)
    assert _declared("psycopg[binary,pool]>=3.2") not in _locked(lock)
