"""`keel run`: exit codes, logs, a task that never starts, a late log stream, Ctrl-C, --detach."""

from __future__ import annotations

import os
import signal

import pytest

from .conftest import (
    CLUSTER,
    LOG_PREFIX,
    TASK_ARN,
    TASK_ID,
    expect_describe,
    expect_stop,
    put_log_lines,
    run_task_params,
    task,
)

GROUP = "/keel/staging/release"
STREAM = f"{LOG_PREFIX}/release/{TASK_ID}"


def expect_no_release_running(stubber, running=()):
    stubber.add_response(
        "list_tasks",
        {"taskArns": [t["taskArn"] for t in running]},
        {"cluster": CLUSTER, "family": "keel-staging-release", "desiredStatus": "RUNNING"},
    )
    if running:
        stubber.add_response("describe_tasks", {"tasks": list(running), "failures": []})


def expect_run_task(stubber, *, command, environment=None, cpu=None, memory=None):
    expect_no_release_running(stubber)
    container = {"command": command, **({"environment": environment} if environment else {})}
    size = {"cpu": str(cpu), "memory": str(memory)} if cpu else {}
    params = run_task_params(started_by="keel-run", container_override=container, **size)
    stubber.add_response("run_task", {"tasks": [task("PROVISIONING")], "failures": []}, params)


def test_exit_code_of_the_container_after_its_log_lines(keel, ecs_stub, outputs_file, logs_client):
    _, stubber = ecs_stub
    expect_run_task(stubber, command=["python", "manage.py", "check_things", "--deploy"])
    expect_describe(stubber, task("PENDING"), task("RUNNING"), task("STOPPED", exit_code=3, stopCode="EssentialContainerExited"))
    # The container writes while RUNNING, after the first polls found no stream.
    keel.time.at_sleep(2, lambda: put_log_lines(logs_client, GROUP, STREAM, ["checking", "3 problems found"]))

    result = keel("run", "--stack", "staging", "--outputs", str(outputs_file()), "--",
                  "python", "manage.py", "check_things", "--deploy")

    assert result.code == 3
    assert result.out.splitlines() == ["checking", "3 problems found"]
    for status in ("PROVISIONING", "PENDING", "RUNNING", "STOPPED"):
        assert f"] {status}" in result.err
    assert "exited with code 3" in result.err


def test_exit_code_zero(keel, ecs_stub, outputs_file, logs_client):
    _, stubber = ecs_stub
    expect_run_task(stubber, command=["python", "manage.py", "migrate"])
    put_log_lines(logs_client, GROUP, STREAM, ["Applying documents.0001_initial... OK"])
    expect_describe(stubber, task("STOPPED", exit_code=0))  # went PROVISIONING -> STOPPED between polls

    result = keel("run", "--outputs", str(outputs_file()), "--", "python", "manage.py", "migrate")

    assert result.code == 0
    assert result.out == "Applying documents.0001_initial... OK\n"


def test_log_stream_that_appears_late_still_streams_every_line(keel, ecs_stub, outputs_file, logs_client):
    _, stubber = ecs_stub
    expect_run_task(stubber, command=["python", "manage.py", "import_documents"])
    expect_describe(stubber, task("PENDING"), task("RUNNING"), task("RUNNING"), task("RUNNING"),
                    task("STOPPED", exit_code=0))
    # No stream for three polls, then it appears, then more lines arrive while it runs.
    keel.time.at_sleep(3, lambda: put_log_lines(logs_client, GROUP, STREAM, ["first"]))
    keel.time.at_sleep(4, lambda: put_log_lines(logs_client, GROUP, STREAM, ["second", "third"]))

    result = keel("run", "--outputs", str(outputs_file()), "--", "python", "manage.py", "import_documents")

    assert result.code == 0
    assert result.out.splitlines() == ["first", "second", "third"]


def test_task_that_never_starts_exits_non_zero_with_stop_code_and_reason(keel, ecs_stub, outputs_file):
    _, stubber = ecs_stub
    expect_run_task(stubber, command=["python", "manage.py", "migrate"])
    reason = "ResourceInitializationError: unable to pull secrets or registry auth"
    expect_describe(stubber, task("PENDING"), task("STOPPED", stopCode="TaskFailedToStart", stoppedReason=reason))

    result = keel("run", "--outputs", str(outputs_file()), "--", "python", "manage.py", "migrate")

    assert result.code == 125
    assert "TaskFailedToStart" in result.err
    assert reason in result.err
    assert result.out == ""


def test_run_task_refused_is_a_one_line_error(keel, ecs_stub, outputs_file):
    _, stubber = ecs_stub
    expect_no_release_running(stubber)
    stubber.add_response("run_task", {"tasks": [], "failures": [{"reason": "RESOURCE:ENI", "detail": "no free IPs"}]}, None)

    result = keel("run", "--outputs", str(outputs_file()), "--", "true")

    assert result.code == 1
    assert result.err.startswith("keel: ECS did not start")
    assert "RESOURCE:ENI" in result.err and "no free IPs" in result.err
    assert "unexpected" not in result.err and "Traceback" not in result.err


@pytest.mark.parametrize("interrupt", ["ctrl-c", "sigterm"])
def test_ctrl_c_stops_the_task_and_waits_for_it(keel, ecs_stub, outputs_file, logs_client, interrupt):
    _, stubber = ecs_stub
    expect_run_task(stubber, command=["python", "manage.py", "long_job"])
    expect_describe(stubber, task("RUNNING"))
    expect_stop(stubber)
    expect_describe(stubber, task("STOPPED", exit_code=143, stopCode="UserInitiated"))
    put_log_lines(logs_client, GROUP, STREAM, ["working"])

    def press_ctrl_c():
        raise KeyboardInterrupt

    def cancel_the_ci_job():
        os.kill(os.getpid(), signal.SIGTERM)  # the handler keel installed raises in this thread

    keel.time.at_sleep(1, press_ctrl_c if interrupt == "ctrl-c" else cancel_the_ci_job)
    result = keel("run", "--outputs", str(outputs_file()), "--", "python", "manage.py", "long_job")

    assert result.code == 130
    assert "stopping task" in result.err
    after_ctrl_c = result.err.split("stopping task", 1)[1]
    assert "PROVISIONING" not in after_ctrl_c and "] STOPPED" in after_ctrl_c
    assert "exit code 143" in result.err
    assert result.out.splitlines() == ["working"]  # not repeated by the second wait


def test_detach_prints_the_task_and_where_its_logs_are(keel, ecs_stub, outputs_file):
    _, stubber = ecs_stub
    expect_run_task(stubber, command=["python", "manage.py", "import_documents"])

    path = outputs_file()
    result = keel("run", "--detach", "--stack", "staging", "--outputs", str(path), "--",
                  "python", "manage.py", "import_documents")

    assert result.code == 0
    assert result.out.strip() == TASK_ARN
    assert GROUP in result.err and STREAM in result.err
    assert f"keel logs --stack staging --outputs {path} release --task {TASK_ID} --follow" in result.err


def test_env_and_size_overrides_reach_run_task(keel, ecs_stub, outputs_file, monkeypatch):
    _, stubber = ecs_stub
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "from-my-shell")
    expect_run_task(
        stubber,
        command=["python", "manage.py", "createsuperuser", "--noinput"],
        environment=[
            {"name": "DJANGO_SUPERUSER_EMAIL", "value": "ops@example.org"},
            {"name": "DJANGO_SUPERUSER_PASSWORD", "value": "from-my-shell"},
            {"name": "DJANGO_SUPERUSER_USERNAME", "value": "ops"},
        ],
        cpu=1024,
        memory=3072,
    )

    result = keel("run", "--detach", "--outputs", str(outputs_file()), "--cpu", "1024", "--memory", "3072",
                  "--env", "DJANGO_SUPERUSER_USERNAME=ops", "--env", "DJANGO_SUPERUSER_EMAIL=ops@example.org",
                  "--env", "DJANGO_SUPERUSER_PASSWORD", "--", "python", "manage.py", "createsuperuser", "--noinput")

    assert result.code == 0, result.err
    assert "DJANGO_SUPERUSER_PASSWORD will be readable" in result.err
    assert "from-my-shell" not in result.err + result.out


def test_invalid_fargate_size_is_refused_before_any_aws_call(keel, outputs_file):
    result = keel("run", "--outputs", str(outputs_file()), "--cpu", "512", "--memory", "512", "--", "true")

    assert result.code == 2
    assert "--memory 512 does not fit --cpu 512" in result.err
    assert "1024, 2048, 3072, 4096" in result.err


def test_bad_arguments_are_refused_with_what_to_do(keel, outputs_file):
    path = str(outputs_file())
    cases = {
        ("run", "--outputs", path): "no command given",
        ("run", "--outputs", path, "--cpu", "1024", "--", "true"): "--cpu and --memory go together",
        ("run", "--outputs", path, "--env", "1BAD=x", "--", "true"): "'1BAD' is not a variable name",
        ("run", "--outputs", path, "--env", "AWS_SECRET_ACCESS_KEY=x", "--", "true"): "static AWS keys",
        ("run", "--outputs", path, "--env", "KEEL_SURELY_UNSET_VAR", "--", "true"): "not set in your environment",
        ("run", "--outputs", path, "--timeout", "soon", "--", "true"): "--timeout 'soon' is not a duration",
        ("run", "--outputs", path, "--cpu", "300", "--memory", "512", "--", "true"): "use one of 256, 512, 1024",
        ("run", "--outputs", path, "--cpu", "2048", "--memory", "5000", "--", "true"): "4096 to 16384 in steps of 1024",
    }
    for argv, message in cases.items():
        result = keel(*argv)
        assert result.code == 2, argv
        assert message in result.err, (argv, result.err)
        assert len(result.err.strip().splitlines()) <= 2, result.err


def test_refuses_to_race_a_running_release(keel, ecs_stub, outputs_file):
    _, stubber = ecs_stub
    # A `keel run` one-off of the release family may run alongside; a release gate task may not.
    expect_no_release_running(stubber, running=[
        {**task("RUNNING", startedBy="keel-run"), "taskArn": TASK_ARN.replace("0123", "9999")},
        task("RUNNING", startedBy="keel-release"),
    ])

    result = keel("run", "--stack", "staging", "--outputs", str(outputs_file()), "--", "python", "manage.py", "migrate")

    assert result.code == 1
    assert f"a release is running on {CLUSTER}: task {TASK_ID} (RUNNING) started by keel-release" in result.err
    assert "keel logs --stack staging --outputs" in result.err


def test_timeout_stops_the_task_and_exits_124(keel, ecs_stub, outputs_file):
    _, stubber = ecs_stub
    expect_run_task(stubber, command=["python", "manage.py", "slow"])
    expect_describe(stubber, task("RUNNING"), task("RUNNING"))  # 0 s, 2 s: still running at the 2 s deadline
    expect_stop(stubber, reason="keel run: --timeout reached")
    expect_describe(stubber, task("STOPPED", exit_code=143, stopCode="UserInitiated"))

    result = keel("run", "--outputs", str(outputs_file()), "--timeout", "2s", "--", "python", "manage.py", "slow")

    assert result.code == 124
    assert "timed out after" in result.err and "was stopped" in result.err


def test_sigterm_handling_is_restored_after_the_run(keel, ecs_stub, outputs_file):
    before = signal.getsignal(signal.SIGTERM)
    _, stubber = ecs_stub
    expect_run_task(stubber, command=["true"])
    expect_describe(stubber, task("STOPPED", exit_code=0))

    assert keel("run", "--outputs", str(outputs_file()), "--", "true").code == 0
    assert signal.getsignal(signal.SIGTERM) is before


def test_a_stack_without_nat_runs_one_offs_with_a_public_ip():
    """keel:natGateways none: the tasks' subnets are public and only a public IP reaches ECR and Logs."""
    from keel import outputs as out
    from keel.cli import oneoff
    from keel.cli.stack import StackOutputs

    from .conftest import stack_outputs

    def network(values):
        spec = oneoff.task_spec(StackOutputs("dev", values), ["true"], started_by="keel-run")
        return spec.run_task_request()["networkConfiguration"]["awsvpcConfiguration"]

    assert network({**stack_outputs(), out.TASKS_PUBLIC_IP: True})["assignPublicIp"] == "ENABLED"
    assert network({**stack_outputs(), out.TASKS_PUBLIC_IP: False})["assignPublicIp"] == "DISABLED"
    assert network(stack_outputs())["assignPublicIp"] == "DISABLED"  # outputs of a stack from before the key
