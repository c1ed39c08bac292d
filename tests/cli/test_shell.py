"""`keel shell`: preflight of local tools and exec, the console task, execute-command, cleanup."""

from __future__ import annotations

import os
import signal

from .conftest import (
    CLUSTER,
    RELEASE_TD,
    TASK_ARN,
    expect_describe,
    expect_stop,
    run_task_params,
    stack_outputs,
    task,
)


def with_agent(status, agent):
    described = task(status)
    described["containers"][0]["managedAgents"] = [{"name": "ExecuteCommandAgent", "lastStatus": agent}]
    return described


def expect_task_definition(stubber, task_role="arn:aws:iam::123456789012:role/keel-staging-task", environment=()):
    definition = {
        "family": "keel-staging-release",
        "containerDefinitions": [{"name": "release", "environment": [{"name": n, "value": "x"} for n in environment]}],
    }
    if task_role:
        definition["taskRoleArn"] = task_role
    stubber.add_response("describe_task_definition", {"taskDefinition": definition}, {"taskDefinition": RELEASE_TD})


def expect_console_task(stubber, seconds="3600"):
    expect_task_definition(stubber)
    params = run_task_params(started_by="keel-shell", enable_exec=True, container_override={"command": ["sleep", seconds]})
    stubber.add_response("run_task", {"tasks": [task("PROVISIONING")], "failures": []}, params)


def test_shell_opens_execute_command_once_the_agent_runs_and_stops_the_task(keel, ecs_stub, outputs_file):
    _, stubber = ecs_stub
    expect_console_task(stubber, seconds="1800")
    expect_describe(stubber, task("PENDING"), with_agent("RUNNING", "PENDING"), with_agent("RUNNING", "RUNNING"))
    expect_stop(stubber)
    keel.process_result = lambda argv: 7  # the shell's own exit status

    result = keel("shell", "--outputs", str(outputs_file()), "--timeout", "30m")

    assert result.code == 7
    assert keel.processes == [[
        "aws", "ecs", "execute-command", "--region", "eu-west-1", "--cluster", CLUSTER, "--task", TASK_ARN,
        "--container", "release", "--interactive", "--command", "/bin/sh",
    ]]
    assert "stopped console task" in result.err


def test_console_task_that_stops_before_the_shell_is_reported_and_cleaned_up(keel, ecs_stub, outputs_file):
    _, stubber = ecs_stub
    expect_console_task(stubber)
    expect_describe(stubber, task("STOPPED", stopCode="TaskFailedToStart", stoppedReason="ResourceInitializationError"))
    expect_stop(stubber)

    result = keel("shell", "--outputs", str(outputs_file()))

    assert result.code == 1
    assert "TaskFailedToStart: ResourceInitializationError" in result.err
    assert keel.processes == []


def test_missing_session_manager_plugin(keel, outputs_file):
    keel.which = {"aws": "bin/aws"}
    result = keel("shell", "--outputs", str(outputs_file()))

    assert result.code == 1
    assert "Session Manager plugin" in result.err
    assert "session-manager-working-with-install-plugin" in result.err  # where to get it
    assert len(result.err.strip().splitlines()) == 2


def test_missing_aws_cli(keel, outputs_file):
    keel.which = {"session-manager-plugin": "bin/session-manager-plugin"}
    result = keel("shell", "--outputs", str(outputs_file()))

    assert result.code == 1
    assert "needs the AWS CLI" in result.err and "getting-started-install" in result.err


def test_stack_without_exec(keel, outputs_file):
    result = keel("shell", "--outputs", str(outputs_file(stack_outputs(execEnabled=False))))

    assert result.code == 1
    assert "ECS Exec is not enabled on stack 'staging'" in result.err


def test_ctrl_c_while_waiting_still_stops_the_console_task(keel, ecs_stub, outputs_file):
    _, stubber = ecs_stub
    expect_console_task(stubber)
    expect_describe(stubber, task("PENDING"))
    expect_stop(stubber)

    def ctrl_c():
        raise KeyboardInterrupt

    keel.time.at_sleep(1, ctrl_c)
    result = keel("shell", "--outputs", str(outputs_file()), "--command", "python manage.py shell")

    assert result.code == 130
    assert keel.processes == []  # no shell was opened
    assert "stopped console task" in result.err


def test_task_definition_faults_that_break_exec_are_caught_before_starting_a_task(keel, ecs_stub, outputs_file):
    _, stubber = ecs_stub
    expect_task_definition(stubber, task_role=None)
    no_role = keel("shell", "--outputs", str(outputs_file()))
    assert no_role.code == 1 and "has no task role, which ECS Exec needs" in no_role.err

    expect_task_definition(stubber, environment=["AWS_ACCESS_KEY_ID", "DJANGO_DEBUG"])
    static_keys = keel("shell", "--outputs", str(outputs_file()))
    assert static_keys.code == 1 and "sets AWS_ACCESS_KEY_ID, which stops ECS Exec" in static_keys.err


def test_ctrl_c_inside_the_shell_belongs_to_the_shell(keel, ecs_stub, outputs_file):
    _, stubber = ecs_stub
    expect_console_task(stubber)
    expect_describe(stubber, with_agent("RUNNING", "RUNNING"))
    expect_stop(stubber)

    def user_presses_ctrl_c_in_the_remote_shell(argv):
        os.kill(os.getpid(), signal.SIGINT)  # the terminal sends it to keel too
        return 0

    keel.process_result = user_presses_ctrl_c_in_the_remote_shell
    result = keel("shell", "--outputs", str(outputs_file()))

    assert result.code == 0, result.err
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
