"""The GitHub Actions workflows: they parse, have a valid structure, pin every action to a commit,
reach AWS only through OIDC, and implement the delivery pipeline docs/security-and-delivery.md describes.

actionlint is not installable here (no wheel on PyPI, not in Debian), so the structure GitHub
checks is asserted directly, and every `run:` script goes through `bash -n`."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO / ".github" / "workflows"
FILES = sorted(WORKFLOWS.glob("*.yml"))
PINNED = re.compile(r"^\s*(?:-\s*)?uses:\s*([\w.-]+/[\w./-]+)@([0-9a-f]{40})\s+#\s*v\d+(\.\d+){0,2}\s*$")
TOP_KEYS = {"name", "run-name", "on", "permissions", "env", "defaults", "concurrency", "jobs"}
JOB_KEYS = {"name", "needs", "permissions", "runs-on", "environment", "concurrency", "outputs", "env", "defaults",
            "if", "steps", "timeout-minutes", "strategy", "continue-on-error", "container", "services", "uses",
            "with", "secrets"}
STEP_KEYS = {"id", "if", "name", "uses", "run", "shell", "with", "env", "continue-on-error", "timeout-minutes",
             "working-directory"}
REGISTRY_HOSTS = ("pypi.org", "pythonhosted.org", "registry.npmjs.org", "npmjs.com", "deb.debian.org",
                  "debian.org", "proxy.golang.org", "astral.sh")


def load(path: Path) -> dict:
    document = yaml.safe_load(path.read_text())
    # YAML 1.1 reads the bare key `on` as a boolean; GitHub reads it as "on".
    if True in document:
        document["on"] = document.pop(True)
    return document


def jobs(path: Path) -> dict:
    return load(path)["jobs"]


def test_the_pipeline_files_exist():
    assert {p.name for p in FILES} == {"checks.yml", "pulumi.yml", "pull-request.yml", "deploy.yml"}


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_workflow_structure(path):
    document = load(path)
    assert set(document) <= TOP_KEYS, set(document) - TOP_KEYS
    assert document["on"] and document["jobs"]
    for name, job in document["jobs"].items():
        assert set(job) <= JOB_KEYS, (name, set(job) - JOB_KEYS)
        for need in [job["needs"]] if isinstance(job.get("needs"), str) else job.get("needs", []):
            assert need in document["jobs"], f"{name} needs unknown job {need}"
        if "uses" in job:
            assert "steps" not in job and "runs-on" not in job
            called = REPO / job["uses"].removeprefix("./")
            assert called.exists(), job["uses"]
            _check_call(name, job, load(called))
        else:
            assert job.get("runs-on") and job.get("steps"), name
            for step in job["steps"]:
                assert set(step) <= STEP_KEYS, set(step) - STEP_KEYS
                assert ("uses" in step) != ("run" in step), f"{name}: a step needs exactly one of uses/run"


def _check_call(name: str, job: dict, called: dict) -> None:
    """A reusable-workflow call passes only declared inputs and secrets, and every required input."""
    declared = called["on"]["workflow_call"] or {}
    inputs = declared.get("inputs") or {}
    given = job.get("with") or {}
    assert set(given) <= set(inputs), f"{name}: undeclared inputs {set(given) - set(inputs)}"
    assert {k for k, v in inputs.items() if v.get("required")} <= set(given), name
    assert set(job.get("secrets") or {}) <= set(declared.get("secrets") or {}), name


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_action_is_pinned_to_a_full_commit_sha_with_its_version(path):
    for line in path.read_text().splitlines():
        if re.match(r"^\s*(-\s*)?uses:", line) and "./.github/workflows/" not in line:
            assert PINNED.match(line), f"not pinned to a commit SHA with a # vX.Y.Z comment: {line.strip()}"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_no_long_lived_keys_and_no_registry_hosts(path):
    text = path.read_text().lower()
    for forbidden in ("aws-access-key-id", "aws-secret-access-key", "aws_secret_access_key", "aws_access_key_id"):
        assert forbidden not in text
    for host in REGISTRY_HOSTS:
        assert host not in text, host


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_expressions_are_closed_and_name_declared_inputs(path):
    text = path.read_text()
    assert text.count("${{") == text.count("}}")
    document = load(path)
    declared = set()
    for trigger in ("workflow_call", "workflow_dispatch"):
        declared |= set(((document["on"] or {}).get(trigger) or {}).get("inputs") or {}) \
            if isinstance(document["on"], dict) else set()
    for used in re.findall(r"inputs\.([\w-]+)", text):
        assert used in declared, f"inputs.{used} is not declared"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_run_scripts_are_valid_bash(path):
    for job in jobs(path).values():
        for step in job.get("steps", []):
            if "run" in step:
                script = re.sub(r"\$\{\{.*?\}\}", "x", step["run"])
                result = subprocess.run(["bash", "-n"], input=script, text=True, capture_output=True)
                assert result.returncode == 0, f"{step.get('name')}: {result.stderr}"


def _steps_text(path: Path) -> str:
    return "\n".join(str(s.get("run", "")) + str(s.get("uses", "")) for j in jobs(path).values()
                     for s in j.get("steps", []))


def test_checks_run_the_tests_and_keel_check_for_every_committed_stack():
    text = _steps_text(WORKFLOWS / "checks.yml")
    assert "bin/test" in text
    assert "for file in Pulumi.*.yaml" in text and "keel check --stack" in text
    assert sorted(REPO.glob("Pulumi.*.yaml")), "the loop needs committed stack files"


def test_pulumi_job_assumes_a_role_through_oidc_and_enforces_the_policy_pack():
    document = load(WORKFLOWS / "pulumi.yml")
    assert document["permissions"]["id-token"] == "write"
    (job,) = document["jobs"].values()
    aws = [s for s in job["steps"] if "configure-aws-credentials" in s.get("uses", "")]
    assert aws and aws[0]["with"]["role-to-assume"] == "${{ vars.AWS_ROLE_ARN }}"
    assert job["env"]["PULUMI_BACKEND_URL"] == "${{ vars.PULUMI_BACKEND_URL }}"
    assert job["environment"] == "${{ inputs.environment }}"
    command = _steps_text(WORKFLOWS / "pulumi.yml")
    assert '--policy-pack policy' in command and 'pulumi "$COMMAND"' in command


def _calls(path: Path) -> dict[str, dict]:
    return {name: job for name, job in jobs(path).items() if job.get("uses", "").endswith("pulumi.yml")}


def test_pull_requests_preview_staging_after_the_checks():
    document = load(WORKFLOWS / "pull-request.yml")
    assert "pull_request" in document["on"]
    (preview,) = _calls(WORKFLOWS / "pull-request.yml").values()
    assert preview["with"] == {"command": "preview", "stack": "staging", "environment": "preview"}
    assert preview["needs"] == "checks" and preview["permissions"]["id-token"] == "write"
    assert document["jobs"]["checks"]["uses"] == "./.github/workflows/checks.yml"


def test_main_deploys_staging_and_prod_needs_a_manual_dispatch_with_approval():
    document = load(WORKFLOWS / "deploy.yml")
    assert document["on"]["push"]["branches"] == ["main"] and "workflow_dispatch" in document["on"]
    calls = _calls(WORKFLOWS / "deploy.yml")
    assert calls["staging"]["with"]["stack"] == "staging" and calls["staging"]["with"]["command"] == "up"
    assert "github.event_name == 'push'" in calls["staging"]["if"]
    prod = calls["prod"]
    assert prod["with"] == {"command": "up", "stack": "prod", "environment": "production"}
    assert "github.event_name == 'workflow_dispatch'" in prod["if"] and "push" not in prod["if"]
    assert all(job["needs"] == "checks" for job in calls.values())


def test_docs_document_the_variables_the_workflows_read():
    section = (REPO / "docs" / "security-and-delivery.md").read_text()
    used = set()
    for path in FILES:
        used |= set(re.findall(r"vars\.([A-Z_]+)", path.read_text()))
        used |= set(re.findall(r"secrets\.([A-Z_]+)", path.read_text()))
    assert used and all(name in section for name in used), used
    for environment in ("preview", "staging", "production"):
        assert f"`{environment}`" in section
