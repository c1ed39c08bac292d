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
    # prod deploys the digest staging runs (keel promote), never a build of its own.
    assert prod["with"] == {"command": "up", "stack": "prod", "environment": "production", "promote_from": "staging"}
    assert "github.event_name == 'workflow_dispatch'" in prod["if"] and "push" not in prod["if"]
    assert all(job["needs"] == "checks" for job in calls.values())


def test_promotion_pins_the_image_before_pulumi_up_runs():
    steps = load(WORKFLOWS / "pulumi.yml")["jobs"]["pulumi"]["steps"]
    runs = [step.get("run", "") for step in steps]
    promote = next(i for i, run in enumerate(runs) if "keel promote" in run)
    up = next(i for i, run in enumerate(runs) if 'pulumi "$COMMAND"' in run)
    assert promote < up
    assert steps[promote]["if"] == "inputs.command == 'up' && inputs.promote_from != ''"
    assert '--from "$PROMOTE_FROM" --to "$STACK"' in runs[promote]  # inputs reach the shell as env, not text


def test_docs_document_the_variables_the_workflows_read():
    section = (REPO / "docs" / "security-and-delivery.md").read_text()
    used = set()
    for path in FILES:
        used |= set(re.findall(r"vars\.([A-Z_]+)", path.read_text()))
        used |= set(re.findall(r"secrets\.([A-Z_]+)", path.read_text()))
    assert used and all(name in section for name in used), used
    for environment in ("preview", "staging", "production"):
        assert f"`{environment}`" in section


# --- limits: the delivery job must outlast the stack's own timeouts ------------------------------------

# GitHub's expression syntax ("Evaluate expressions in workflows and actions"): literals, context
# properties, ==, !=, !, &&, || (returning an operand, not a boolean) and format(). Enough of it to
# read the values pulumi.yml computes from its inputs.
TOKEN = re.compile(r"\s*(?:('(?:[^']|'')*')|(\d+)|(true|false|null)\b|([A-Za-z_][\w.-]*)|(==|!=|&&|\|\||!|\(|\)|,))")


def github_expression(text: str, context: dict):
    """The value of one ``${{ ... }}`` body under ``context`` ({"inputs.command": "up", ...})."""
    tokens = []
    position = 0
    while position < len(text.rstrip()):
        match = TOKEN.match(text, position)
        assert match, f"cannot read {text[position:]!r}"
        tokens.append(match.groups())
        position = match.end()

    def parse_or(i):
        value, i = parse_and(i)
        while i < len(tokens) and tokens[i][4] == "||":
            right, i = parse_and(i + 1)
            value = value or right
        return value, i

    def parse_and(i):
        value, i = parse_compare(i)
        while i < len(tokens) and tokens[i][4] == "&&":
            right, i = parse_compare(i + 1)
            value = value and right
        return value, i

    def parse_compare(i):
        value, i = parse_unary(i)
        if i < len(tokens) and tokens[i][4] in ("==", "!="):
            operator = tokens[i][4]
            right, i = parse_unary(i + 1)
            value = (value == right) if operator == "==" else (value != right)
        return value, i

    def parse_unary(i):
        if tokens[i][4] == "!":
            value, i = parse_unary(i + 1)
            return not value, i
        if tokens[i][4] == "(":
            value, i = parse_or(i + 1)
            assert tokens[i][4] == ")"
            return value, i + 1
        string, number, keyword, name, _ = tokens[i]
        if string is not None:
            return string[1:-1].replace("''", "'"), i + 1
        if number is not None:
            return int(number), i + 1
        if keyword is not None:
            return {"true": True, "false": False, "null": None}[keyword], i + 1
        if name == "format" and tokens[i + 1][4] == "(":
            arguments, i = [], i + 2
            while tokens[i][4] != ")":
                value, i = parse_or(i)
                arguments.append(value)
                i += 1 if tokens[i][4] == "," else 0
            template = arguments[0]
            for index, argument in enumerate(arguments[1:]):
                template = template.replace(f"{{{index}}}", str(argument))
            return template, i + 1
        assert name in context, f"{name} is not in the test's context"
        return context[name], i + 1

    value, end = parse_or(0)
    assert end == len(tokens), text
    return value


def resolve(value, context: dict):
    """A workflow value with its ``${{ }}`` expressions evaluated (a lone expression keeps its type)."""
    if not isinstance(value, str):
        return value
    whole = re.fullmatch(r"\$\{\{(.*)\}\}", value.strip())
    if whole:
        return github_expression(whole.group(1), context)
    return re.sub(r"\$\{\{(.*?)\}\}", lambda m: str(github_expression(m.group(1), context)), value)


def pulumi_job_limits(command: str, stack: str, ref: str = "refs/heads/main") -> dict:
    """What pulumi.yml's job resolves to for one call: minutes, session seconds, concurrency."""
    (job,) = jobs(WORKFLOWS / "pulumi.yml").values()
    context = {"inputs.command": command, "inputs.stack": stack, "github.ref": ref}
    (credentials,) = [s for s in job["steps"] if "configure-aws-credentials" in s.get("uses", "")]
    return {
        "minutes": resolve(job["timeout-minutes"], context),
        "session_seconds": resolve(credentials["with"].get("role-duration-seconds", 3600), context),
        "group": resolve(job["concurrency"]["group"], context),
        "cancel_in_progress": resolve(job["concurrency"]["cancel-in-progress"], context),
    }


# Creating a first prod stack's infrastructure before the release can start: the Multi-AZ database and
# the cache (each typically 10-40 minutes, in parallel), the network and the image build. An allowance,
# documented with the job's timeout in pulumi.yml.
FIRST_UP_INFRASTRUCTURE_MINUTES = 90
GITHUB_HOSTED_JOB_MAX_MINUTES = 360  # GitHub: "each job in a workflow can run for up to 6 hours"
IAM_MAX_SESSION_SECONDS = 43200  # IAM: a role's MaxSessionDuration is at most 12 hours


def deployed_stacks() -> list[tuple[str, dict]]:
    """(stack, pulumi.yml call) for every `up` the delivery workflows make."""
    return [(call["with"]["stack"], call) for call in _calls(WORKFLOWS / "deploy.yml").values()
            if call["with"]["command"] == "up"]


def committed_config(stack: str):
    """The stack's effective config (preset plus its committed Pulumi.<stack>.yaml)."""
    from keel.evaluate import read_stack_config
    from keel.stack_config import load

    raw, _ = read_stack_config(REPO, "keel", stack)
    return load(raw, stack)


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_a_deploy_job_outlasts_the_stacks_own_timeouts(stack):
    """The job must not be killed before the stack's own limits fail `pulumi up` with a message."""
    assert stack in dict(deployed_stacks())
    cfg = committed_config(stack)
    limits = pulumi_job_limits("up", stack)
    needed = FIRST_UP_INFRASTRUCTURE_MINUTES + cfg.release_timeout_minutes + 2 * cfg.deploy_timeout_minutes
    assert needed <= limits["minutes"] <= GITHUB_HOSTED_JOB_MAX_MINUTES, (needed, limits)


@pytest.mark.parametrize("command", ["up", "preview"])
def test_the_aws_session_lasts_as_long_as_the_job(command):
    """configure-aws-credentials asks for one hour with OIDC unless told otherwise (its action.yml:
    role-duration-seconds "1 hour for OIDC"); credentials expiring mid-`up` leave a half-applied stack."""
    limits = pulumi_job_limits(command, "prod")
    assert limits["minutes"] * 60 <= limits["session_seconds"] <= IAM_MAX_SESSION_SECONDS, limits


def test_the_docs_raise_the_deploy_roles_max_session_to_what_the_job_asks():
    """AWS refuses a session longer than the role's MaxSessionDuration (default one hour)."""
    seconds = pulumi_job_limits("up", "prod")["session_seconds"]
    setup = (REPO / "docs" / "security-and-delivery.md").read_text()
    assert re.search(rf"--max-session-duration\s+{seconds}\b", setup), seconds
    assert pulumi_job_limits("preview", "staging")["session_seconds"] <= 3600  # the preview role keeps the default


def test_a_preview_never_cancels_a_waiting_deploy():
    """GitHub keeps one pending job per concurrency group and cancels the older one when another joins:
    a deploy and a preview of the same stack must not share a group, and a deploy is never cancelled."""
    for stack, _ in deployed_stacks():
        deploy = pulumi_job_limits("up", stack)
        assert deploy["cancel_in_progress"] is False
        assert pulumi_job_limits("up", stack, "refs/heads/other")["group"] == deploy["group"]  # one up at a time
        for ref in ("refs/heads/main", "refs/pull/7/merge", "refs/pull/8/merge"):
            preview = pulumi_job_limits("preview", stack, ref)
            assert preview["group"] != deploy["group"], preview
        assert pulumi_job_limits("preview", stack, "refs/pull/7/merge")["group"] != \
            pulumi_job_limits("preview", stack, "refs/pull/8/merge")["group"]  # two pull requests never cancel each other
    (preview_call,) = _calls(WORKFLOWS / "pull-request.yml").values()
    assert preview_call["with"]["command"] == "preview"
