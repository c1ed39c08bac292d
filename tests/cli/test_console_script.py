"""The real `keel` console script, as a user runs it, against real endpoints on loopback.

ECS is the small fake in fake_ecs.py and CloudWatch Logs a moto server, reached through the
standard AWS_ENDPOINT_URL variables (AWS_ENDPOINT_URL for Logs, AWS_ENDPOINT_URL_ECS for ECS).
The two task tests take about 8 s each: real polling (2 s) plus the runner's 5 s wait for late
log lines after STOPPED, which is the behaviour under test, so it is not shortened.
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import CLUSTER, LOG_PREFIX, RELEASE_TD, TASK_ARN, TASK_ID, put_log_lines
from .fake_ecs import FakeEcs

KEEL = Path(sys.executable).parent / "keel"
GROUP = "/keel/staging/release"
STREAM = f"{LOG_PREFIX}/release/{TASK_ID}"


@pytest.fixture
def script_env(moto_endpoint, aws_env):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
    env.update(AWS_ENDPOINT_URL=moto_endpoint, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    env.pop("AWS_PROFILE", None)
    return env


def test_keel_help_lists_the_commands():
    result = subprocess.run([str(KEEL), "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    for name in ("run", "shell", "logs", "status"):
        assert f"\n    {name} " in result.stdout


def test_run_exits_with_the_containers_code_after_its_log_lines(script_env, logs_client, outputs_file):
    lines = ["Operations to perform:", "  something failed", "CommandError: 3 problems"]
    states = [{"lastStatus": "RUNNING"}, {"lastStatus": "STOPPED", "exitCode": 3, "stopCode": "EssentialContainerExited"}]
    with FakeEcs(TASK_ARN, "release", states, on_running=lambda: put_log_lines(logs_client, GROUP, STREAM, lines)) as ecs:
        env = {**script_env, "AWS_ENDPOINT_URL_ECS": ecs.endpoint}
        result = subprocess.run(
            [str(KEEL), "run", "--outputs", str(outputs_file()), "--stack", "staging", "--",
             "python", "manage.py", "check_things"],
            capture_output=True, text=True, env=env, timeout=120,
        )
        run_task = ecs.calls("RunTask")

    assert result.returncode == 3, result.stderr
    assert result.stdout.splitlines() == lines
    assert "RUNNING" in result.stderr and "exited with code 3" in result.stderr
    assert run_task[0]["taskDefinition"] == RELEASE_TD and run_task[0]["cluster"] == CLUSTER
    assert run_task[0]["overrides"]["containerOverrides"][0]["command"] == ["python", "manage.py", "check_things"]


def test_ctrl_c_stops_the_task(script_env, logs_client, outputs_file):
    states = [{"lastStatus": "PENDING"}] + [{"lastStatus": "RUNNING"}] * 100
    with FakeEcs(TASK_ARN, "release", states) as ecs:
        env = {**script_env, "AWS_ENDPOINT_URL_ECS": ecs.endpoint}
        process = subprocess.Popen(
            [str(KEEL), "run", "--outputs", str(outputs_file()), "--", "python", "manage.py", "long_job"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )
        seen = read_until(process, "RUNNING", timeout=60)
        process.send_signal(signal.SIGINT)
        _, rest = process.communicate(timeout=60)
        stops = ecs.calls("StopTask")

    assert process.returncode == 130, seen + rest
    assert [stop["task"] for stop in stops] == [TASK_ARN]
    assert "Ctrl-C" in stops[0]["reason"]
    assert "exit code 143" in rest


def test_missing_pulumi_cli(script_env, tmp_path):
    env = {**script_env, "PATH": str(tmp_path)}  # nothing on PATH, so no pulumi either
    result = subprocess.run([str(KEEL), "status", "--stack", "staging"], capture_output=True, text=True, env=env, timeout=60)

    assert result.returncode == 1
    assert result.stderr.splitlines()[0] == "keel: the Pulumi CLI is not installed (no `pulumi` on PATH)"
    assert "--outputs FILE" in result.stderr


def read_until(process: subprocess.Popen, marker: str, timeout: float) -> str:
    """stderr read so far, once it contains marker (the process keeps running)."""
    selector = selectors.DefaultSelector()
    selector.register(process.stderr, selectors.EVENT_READ)
    seen = ""
    deadline = time.monotonic() + timeout
    while marker not in seen:
        if time.monotonic() > deadline or process.poll() is not None:
            raise AssertionError(f"keel never printed {marker!r}; stderr so far:\n{seen}")
        if selector.select(timeout=1):
            seen += process.stderr.readline()
    return seen
