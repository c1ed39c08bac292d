"""The release gate's dynamic provider: create/update run the task, diff/check never touch AWS."""

from __future__ import annotations

import ast
import base64
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
from keel.components import release as release_module
from keel.components.release import UNKNOWN, ReleaseFailed, ReleaseProvider
from pulumi.dynamic.dynamic import serialize_provider

from .stubs import (
    CLUSTER,
    LOG_GROUP,
    LOG_PREFIX,
    RELEASE_FAMILY,
    RELEASE_TD,
    SECURITY_GROUPS,
    SUBNETS,
    TASK_ARN,
    TASK_ID,
    expect_describe,
    expect_log_end,
    expect_log_page,
    expect_no_running_release,
    expect_run_task,
    expect_stream_missing,
    make_runner,
    run_task_params,
    task,
)

REPO = Path(__file__).resolve().parents[2]
NEW_TD = RELEASE_TD.replace(":7", ":8")
OLD_TD = RELEASE_TD.replace(":7", ":6")
APPLYING = json.dumps({"timestamp": "2026-01-02T03:04:21.120Z", "level": "INFO", "logger": "keel.release",
                       "message": "  Applying documents.0002_add_owner...", "request_id": "-"})
FAILED_JSON = json.dumps({
    "timestamp": "2026-01-02T03:04:21.500Z", "level": "ERROR", "logger": "keel.release",
    "message": "release: migrate failed", "request_id": "-", "duration_s": 0.4,
    "exception": 'Traceback (most recent call last):\n  File "manage.py", line 9\n'
                 'django.db.utils.ProgrammingError: column "owner_id" does not exist',
})


def props(**changes):
    values = {
        "cluster_arn": CLUSTER,
        "task_definition_arn": RELEASE_TD,
        "container_name": "release",
        "subnet_ids": list(SUBNETS),
        "security_group_ids": list(SECURITY_GROUPS),
        "log_group_name": LOG_GROUP,
        "log_stream_prefix": LOG_PREFIX,
        "aws": {"region": "eu-west-1", "profile": None},
        "timeout_minutes": 30.0,  # numbers arrive as floats from the engine
        "task_arn": None,
        "task_id": None,
        "exit_code": None,
        "duration_seconds": None,
        "__provider": "c2VyaWFsaXplZA==",
    }
    values.update(changes)
    return values


class Output:
    """What the provider prints into `pulumi up`, as (level, line)."""

    def __init__(self):
        self.lines: list[tuple[str, str]] = []

    def __call__(self, message: str, error: bool = False) -> None:
        for line in message.splitlines():
            self.lines.append(("error" if error else "info", line))

    def text(self, level: str | None = None) -> list[str]:
        return [line for lvl, line in self.lines if level in (None, lvl)]


@pytest.fixture
def output():
    return Output()


@pytest.fixture
def provider(ecs, logs, clock, output):
    used = []

    def factory(identity):
        used.append((identity.region, identity.profile))
        return make_runner(ecs, logs, clock, poll_interval=20.0)

    provider = ReleaseProvider(runner_factory=factory, output=output)
    provider.used = used
    return provider


def successful_run(ecs, logs):
    expect_no_running_release(ecs)
    expect_run_task(ecs)
    expect_describe(ecs, task("RUNNING", started=True))
    expect_log_page(logs, ["Operations to perform:", "  Applying documents.0001_initial... OK"], None, "f/1")
    expect_log_end(logs, "f/1")
    expect_describe(ecs, task("STOPPED", exit_code=0, stop_code="EssentialContainerExited"))
    expect_log_page(logs, ["release: done"], "f/1", "f/2")
    expect_log_end(logs, "f/2")
    expect_log_end(logs, "f/2")
    expect_log_end(logs, "f/2")


def failed_run(ecs, logs, exit_code=1):
    expect_no_running_release(ecs)
    expect_run_task(ecs)
    expect_describe(ecs, task("RUNNING", started=True))
    expect_log_page(logs, [APPLYING, FAILED_JSON], None, "f/1")
    expect_log_end(logs, "f/1")
    expect_describe(ecs, task("STOPPED", exit_code=exit_code, stop_code="EssentialContainerExited",
                              stopped_reason="Essential container in task exited"))
    for _ in range(3):
        expect_log_end(logs, "f/1")


def test_create_runs_the_task_streams_its_lines_and_records_the_run(provider, ecs, logs, output):
    successful_run(ecs, logs)

    result = provider.create(props())

    assert result.id == f"release-{TASK_ID}"
    assert result.outs["task_definition_arn"] == RELEASE_TD
    assert result.outs["task_arn"] == TASK_ARN and result.outs["exit_code"] == 0
    assert "__provider" not in result.outs
    lines = output.text("info")
    assert [line for line in lines if line.startswith("release |")] == [
        "release | Operations to perform:",
        "release |   Applying documents.0001_initial... OK",
        "release | release: done",
    ]
    assert any(line.startswith(f"release: task {TASK_ID} RUNNING") for line in lines)
    assert lines[-1].startswith(f"release: task {TASK_ID} exited 0 after")
    assert provider.used == [("eu-west-1", None)]  # the pulumi-aws provider's region and profile


def test_non_zero_exit_fails_with_the_exit_code_and_the_last_lines(provider, ecs, logs, output):
    failed_run(ecs, logs, exit_code=1)

    with pytest.raises(ReleaseFailed) as failure:
        provider.update(f"release-{TASK_ID}", props(task_definition_arn=OLD_TD), props())

    message = str(failure.value)
    assert "exited with code 1" in message
    assert 'ProgrammingError: column "owner_id" does not exist' in message.split("Last 2 log lines")[1]
    assert "No service was changed (web, worker and beat wait for a successful release); the version already serving keeps serving." in message
    assert output.text("error") == message.splitlines()  # shown once, cleanly, as an error diagnostic
    # JSON log lines are shown readably, live and in the message, exception included
    assert "release | INFO      Applying documents.0002_add_owner..." in output.text("info")
    assert "release | ERROR   release: migrate failed  (duration_s=0.4)" in output.text("info")
    assert '  | django.db.utils.ProgrammingError: column "owner_id" does not exist' in message.splitlines()


def test_task_that_never_starts_fails_with_stop_code_and_reason(provider, ecs, logs):
    expect_no_running_release(ecs)
    expect_run_task(ecs)
    reason = "ResourceInitializationError: unable to pull secrets or registry auth"
    expect_describe(ecs, task("STOPPED", stop_code="TaskFailedToStart", stopped_reason=reason))
    expect_stream_missing(logs)
    expect_stream_missing(logs)

    with pytest.raises(ReleaseFailed) as failure:
        provider.create(props())

    message = str(failure.value)
    assert "never ran its container 'release'" in message
    assert "stopCode TaskFailedToStart" in message and reason in message
    assert "exited with code" not in message


def test_task_going_from_pending_straight_to_stopped_succeeds_on_its_exit_code(provider, ecs, logs, output):
    expect_no_running_release(ecs)
    ecs.stubber.add_response("run_task", {"tasks": [task("PENDING")], "failures": []}, run_task_params())
    expect_describe(ecs, task("STOPPED", exit_code=0, stop_code="EssentialContainerExited"))
    expect_stream_missing(logs)
    expect_log_page(logs, ["No migrations to apply."], None, "f/1")
    for _ in range(3):
        expect_log_end(logs, "f/1")

    result = provider.create(props())

    assert result.outs["exit_code"] == 0
    statuses = [line.split()[3] for line in output.text("info") if line.startswith(f"release: task {TASK_ID} ")
                and line.split()[3].isupper()]
    assert statuses == ["PENDING", "STOPPED"]
    assert "release | No migrations to apply." in output.text("info")


def test_log_stream_that_appears_late_is_streamed_from_its_first_line(provider, ecs, logs, output):
    expect_no_running_release(ecs)
    expect_run_task(ecs)
    for _ in range(2):
        expect_describe(ecs, task("PENDING"))
        expect_stream_missing(logs)
    expect_describe(ecs, task("RUNNING", started=True))
    expect_log_page(logs, ["Operations to perform:"], None, "f/1")
    expect_log_end(logs, "f/1")
    expect_describe(ecs, task("STOPPED", exit_code=0))
    for _ in range(3):
        expect_log_end(logs, "f/1")

    provider.create(props())

    assert [line for line in output.text("info") if line.startswith("release |")] == ["release | Operations to perform:"]


def test_timeout_stops_the_task_and_fails(provider, ecs, logs):
    expect_no_running_release(ecs)
    expect_run_task(ecs)
    for _ in range(4):  # t = 0, 20, 40, 60: the last one is past 1 minute
        expect_describe(ecs, task("RUNNING", started=True))
        expect_stream_missing(logs)
    ecs.stubber.add_response(
        "stop_task", {"task": task("RUNNING", started=True)},
        {"cluster": CLUSTER, "task": TASK_ARN, "reason": "keel release timed out after 1 min"},
    )
    expect_describe(ecs, task("STOPPED", exit_code=137, stop_code="UserInitiated",
                              stopped_reason="keel release timed out after 1 min"))
    for _ in range(3):
        expect_stream_missing(logs)

    with pytest.raises(ReleaseFailed, match=r"timed out after 1m\d\ds and was stopped \(stopCode UserInitiated"):
        provider.create(props(timeout_minutes=1.0))


def expect_running(ecs, started_by):
    other = TASK_ARN.replace(TASK_ID, "1234abcd")
    ecs.stubber.add_response(
        "list_tasks", {"taskArns": [other]}, {"cluster": CLUSTER, "family": RELEASE_FAMILY, "desiredStatus": "RUNNING"}
    )
    ecs.stubber.add_response(
        "describe_tasks", {"tasks": [task("RUNNING", arn=other, started=True, started_by=started_by)]},
        {"cluster": CLUSTER, "tasks": [other]},
    )


def test_refuses_while_a_keel_shell_runs_the_release_task_definition(provider, ecs):
    expect_running(ecs, "keel-shell")
    with pytest.raises(ReleaseFailed) as failure:
        provider.create(props())
    message = str(failure.value)
    assert f"a one-off task of the release task definition ({RELEASE_FAMILY}) is running" in message
    assert "task 1234abcd (RUNNING) started by keel-shell" in message


def test_refuses_while_another_release_is_running_and_says_which(provider, ecs, logs, output):
    expect_running(ecs, "keel-release")
    # no RunTask is queued: the Stubber would fail the test if one were sent

    with pytest.raises(ReleaseFailed) as failure:
        provider.create(props())

    message = str(failure.value)
    assert "another release is running" in message
    assert "task 1234abcd (RUNNING) started by keel-release" in message
    assert f"aws ecs stop-task --cluster {CLUSTER} --task 1234abcd" in message


def test_diff_reruns_only_when_the_task_definition_changes():
    provider = ReleaseProvider()
    old = props(task_arn=TASK_ARN, exit_code=0)

    assert provider.diff("r", old, props()).changes is False
    unrelated = props(subnet_ids=["subnet-0ccc"], timeout_minutes=45.0, aws={"region": "eu-west-1", "profile": "ops"},
                      __provider="b3RoZXI=")
    assert provider.diff("r", old, unrelated).changes is False
    changed = provider.diff("r", old, props(task_definition_arn=NEW_TD))
    assert changed.changes is True and changed.replaces == []  # an update: re-run, nothing replaced
    assert provider.diff("r", old, props(task_definition_arn=UNKNOWN)).changes is True  # preview of a new revision


def test_preview_makes_no_aws_call(monkeypatch):
    def no_aws(*_args, **_kwargs):
        raise AssertionError("an AWS client was created during preview")

    monkeypatch.setattr(release_module.TaskRunner, "from_aws", no_aws)
    monkeypatch.setattr("boto3.session.Session.client", no_aws)
    provider = ReleaseProvider(runner_factory=no_aws)
    news = props(task_definition_arn=UNKNOWN, subnet_ids=[UNKNOWN, UNKNOWN])

    checked = provider.check({}, news)
    diffed = provider.diff("r", props(), news)

    assert checked.failures == [] and checked.inputs is news
    assert diffed.changes is True


def test_the_sdk_does_not_call_create_or_update_during_preview():
    """Pulumi calls Create/Update on preview only for providers that declare preview support.

    The Python dynamic provider declares none (no Handshake, a Configure response without
    supportsPreview), which is what keeps `pulumi preview` from running the release. This test
    fails if a Pulumi upgrade changes that, so the guarantee is re-checked before it breaks.
    """
    source = Path(importlib.util.find_spec("pulumi.dynamic").submodule_search_locations[0]) / "__main__.py"
    tree = ast.parse(source.read_text())
    servicer = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "DynamicResourceProviderServicer")
    methods = {n.name for n in servicer.body if isinstance(n, ast.FunctionDef)}
    assert {"Check", "Diff", "Create", "Update"} <= methods
    assert "Handshake" not in methods
    assert "supportsPreview" not in ast.unparse(next(n for n in servicer.body if getattr(n, "name", "") == "Configure"))


@pytest.mark.parametrize(
    ("key", "value", "says"),
    [
        ("task_definition_arn", "keel-staging-release", "is not a task definition ARN"),
        ("subnet_ids", [], "subnet_ids is empty"),
        ("security_group_ids", [], "security_group_ids is empty"),
        ("timeout_minutes", 0, "timeout_minutes must be a number of minutes from 1 to 1440"),
        ("log_group_name", "", "log_group_name is empty"),
    ],
)
def test_check_names_the_bad_input(key, value, says):
    failures = ReleaseProvider().check({}, props(**{key: value})).failures
    assert [(f.property, says in f.reason) for f in failures] == [(key, True)]


def test_provider_pickles_and_loads_in_a_fresh_process():
    serialized = serialize_provider(ReleaseProvider())
    # By reference: the class is imported from keel (installed in the project virtualenv) when loaded.
    assert b"keel.components.release" in base64.b64decode(serialized)
    script = (
        "import base64, sys, dill\n"
        "provider = dill.loads(base64.b64decode(sys.stdin.read()))\n"
        "d = provider.diff('r', {'task_definition_arn': 'a'}, {'task_definition_arn': 'b'})\n"
        "print(type(provider).__name__, d.changes)\n"
    )
    loaded = subprocess.run([sys.executable, "-c", script], input=serialized, capture_output=True, text=True,
                            cwd=REPO.parent, timeout=60, check=False)
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.strip() == "ReleaseProvider True"


def test_unknown_aws_profile_fails_with_a_clear_message(monkeypatch, output):
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    provider = ReleaseProvider(output=output)  # the real boto3 session, as in `pulumi up`

    with pytest.raises(ReleaseFailed) as failure:
        provider.create(props(aws={"region": "eu-west-1", "profile": "no-such-profile-for-keel"}))

    message = str(failure.value)
    assert message.startswith("Release failed: AWS is not reachable with region 'eu-west-1', profile 'no-such-profile-for-keel'")
    assert "The config profile (no-such-profile-for-keel) could not be found" in message
