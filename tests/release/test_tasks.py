"""The one-off task runner (keel.tasks) against botocore's Stubber, on a fake clock."""

from __future__ import annotations

import pytest
from keel.tasks import LogSource, TaskError, TaskStartError, family_of, readable_line

from .stubs import (
    CLUSTER,
    LOG_GROUP,
    LOG_PREFIX,
    RELEASE_FAMILY,
    RELEASE_TD,
    STREAM,
    TASK_ARN,
    TASK_ID,
    expect_describe,
    expect_log_end,
    expect_log_page,
    expect_run_task,
    expect_stream_missing,
    make_runner,
    release_spec,
    run_task_params,
    task,
)

LOGS = LogSource(LOG_GROUP, LOG_PREFIX)


def run(ecs, logs, clock, timeout=None, **options):
    statuses, lines = [], []
    result = make_runner(ecs, logs, clock, **options).run(
        release_spec(),
        logs=LOGS,
        timeout=timeout,
        on_status=lambda change: statuses.append((change.status, change.elapsed)),
        on_log=lambda line: lines.append(line.message),
    )
    return result, statuses, lines


def test_success_reports_each_status_once_and_every_line_in_order(ecs, logs, clock):
    expect_run_task(ecs, "PROVISIONING")
    expect_describe(ecs, task("PENDING"))
    expect_stream_missing(logs)
    expect_describe(ecs, task("RUNNING", started=True))
    expect_log_page(logs, ["Operations to perform:", "  Apply all migrations: documents"], None, "f/1")
    expect_log_end(logs, "f/1")
    expect_describe(ecs, task("RUNNING", started=True))
    expect_log_page(logs, ["  Applying documents.0001_initial... OK"], "f/1", "f/2")
    expect_log_end(logs, "f/2")
    expect_describe(ecs, task("STOPPED", exit_code=0, stop_code="EssentialContainerExited"))
    expect_log_page(logs, ["release: done"], "f/2", "f/3")
    expect_log_end(logs, "f/3")
    # drain: a quiet poll after the settle time ends it
    expect_log_end(logs, "f/3")
    expect_log_end(logs, "f/3")

    result, statuses, lines = run(ecs, logs, clock)

    assert result.succeeded and result.exit_code == 0 and not result.timed_out
    assert [status for status, _ in statuses] == ["PROVISIONING", "PENDING", "RUNNING", "STOPPED"]
    assert [elapsed for _, elapsed in statuses] == [0.0, 0.0, 2.0, 6.0]
    assert lines == [
        "Operations to perform:",
        "  Apply all migrations: documents",
        "  Applying documents.0001_initial... OK",
        "release: done",
    ]
    assert result.log_tail[-1] == "release: done"
    assert result.reason() == ""


def test_nonzero_exit_names_the_code_and_keeps_the_last_lines(ecs, logs, clock):
    expect_run_task(ecs)
    expect_describe(ecs, task("RUNNING", started=True))
    expect_log_page(logs, [f"line {i}" for i in range(40)] + ["django.db.utils.ProgrammingError: boom"], None, "f/1")
    expect_log_end(logs, "f/1")
    expect_describe(ecs, task("STOPPED", exit_code=1, stop_code="EssentialContainerExited",
                              stopped_reason="Essential container in task exited"))
    for _ in range(3):  # the poll after STOPPED, then the drain until the settle time
        expect_log_end(logs, "f/1")

    result, _, _ = run(ecs, logs, clock)

    assert not result.succeeded and result.exit_code == 1
    message = result.failure_message()
    assert "exited with code 1" in message
    assert "django.db.utils.ProgrammingError: boom" in message
    assert len(result.log_tail) == 30 and "line 10" not in result.log_tail  # only the last lines
    assert "line 39" in message


def test_task_that_never_started_has_no_exit_code_and_gives_stop_code_and_reason(ecs, logs, clock):
    expect_run_task(ecs)
    expect_describe(ecs, task("PENDING"))
    expect_stream_missing(logs)
    reason = "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed"
    expect_describe(ecs, task("STOPPED", stop_code="TaskFailedToStart", stopped_reason=reason,
                              container_reason="CannotPullContainerError: pull access denied"))
    expect_stream_missing(logs)
    expect_stream_missing(logs)  # one drain attempt only: the container never ran

    result, statuses, lines = run(ecs, logs, clock)

    assert result.exit_code is None and not result.succeeded
    message = result.failure_message()
    assert "stopCode TaskFailedToStart" in message and reason in message
    assert "CannotPullContainerError" in message
    assert f"{LOG_GROUP}:{STREAM} was never created" in message
    assert lines == [] and statuses[-1][0] == "STOPPED"


def test_pending_straight_to_stopped_between_polls(ecs, logs, clock):
    ecs.stubber.add_response("run_task", {"tasks": [task("PENDING")], "failures": []}, run_task_params())
    expect_describe(ecs, task("STOPPED", exit_code=0, stop_code="EssentialContainerExited"))
    expect_stream_missing(logs)  # the awslogs driver has not flushed yet
    expect_log_page(logs, ["No migrations to apply."], None, "f/1")  # drain picks the line up
    for _ in range(3):
        expect_log_end(logs, "f/1")

    result, statuses, lines = run(ecs, logs, clock)

    assert result.succeeded
    assert [status for status, _ in statuses] == ["PENDING", "STOPPED"]
    assert lines == ["No migrations to apply."]


def test_log_stream_that_appears_late_is_followed_from_its_first_line(ecs, logs, clock):
    expect_run_task(ecs)
    for _ in range(3):
        expect_describe(ecs, task("RUNNING", started=True))
        expect_stream_missing(logs)
    expect_describe(ecs, task("RUNNING", started=True))
    expect_log_page(logs, ["first", "second"], None, "f/1")
    expect_log_end(logs, "f/1")
    expect_describe(ecs, task("STOPPED", exit_code=0))
    expect_log_page(logs, ["third"], "f/1", "f/2")
    expect_log_end(logs, "f/2")
    expect_log_end(logs, "f/2")
    expect_log_end(logs, "f/2")

    result, _, lines = run(ecs, logs, clock)

    assert result.succeeded and result.log_stream_found
    assert lines == ["first", "second", "third"]


def test_empty_page_with_a_new_token_is_followed(ecs, logs, clock):
    expect_run_task(ecs)
    expect_describe(ecs, task("STOPPED", exit_code=0))
    expect_log_page(logs, [], None, "f/1")  # CloudWatch may return an empty page before the events
    expect_log_page(logs, ["late line"], "f/1", "f/2")
    expect_log_end(logs, "f/2")
    expect_log_end(logs, "f/2")
    expect_log_end(logs, "f/2")

    _, _, lines = run(ecs, logs, clock)

    assert lines == ["late line"]


def test_timeout_stops_the_task_and_fails(ecs, logs, clock):
    expect_run_task(ecs)
    for _ in range(3):  # t = 0, 2, 4
        expect_describe(ecs, task("RUNNING", started=True))
        expect_stream_missing(logs)
    expect_describe(ecs, task("RUNNING", started=True))  # t = 6 >= 5: stop it
    expect_stream_missing(logs)
    ecs.stubber.add_response(
        "stop_task",
        {"task": task("RUNNING", started=True)},
        {"cluster": CLUSTER, "task": TASK_ARN, "reason": "keel: timed out after 5s"},
    )
    expect_describe(ecs, task("DEACTIVATING", started=True))
    expect_stream_missing(logs)
    expect_describe(ecs, task("STOPPED", exit_code=143, stop_code="UserInitiated",
                              stopped_reason="keel: timed out after 5s"))
    expect_stream_missing(logs)
    expect_stream_missing(logs)  # drain: the container ran, so wait the settle time for its stream
    expect_stream_missing(logs)

    result, statuses, _ = run(ecs, logs, clock, timeout=5)

    assert result.timed_out and not result.succeeded
    assert "timed out after" in result.reason() and "stopCode UserInitiated" in result.reason()
    assert [s for s, _ in statuses] == ["PROVISIONING", "RUNNING", "DEACTIVATING", "STOPPED"]


def test_run_task_failures_raise_a_clear_start_error(ecs, logs, clock):
    ecs.stubber.add_response(
        "run_task",
        {"tasks": [], "failures": [{"arn": RELEASE_TD, "reason": "MISSING", "detail": "subnet-0aaa not found"}]},
        run_task_params(),
    )
    with pytest.raises(TaskStartError, match=r"did not start .*MISSING \(subnet-0aaa not found\)"):
        make_runner(ecs, logs, clock).run(release_spec(), logs=LOGS)


def test_run_task_api_error_raises_a_clear_start_error(ecs, logs, clock):
    ecs.stubber.add_client_error(
        "run_task", service_error_code="AccessDeniedException", service_message="not authorized to perform ecs:RunTask"
    )
    with pytest.raises(TaskStartError, match=r"RunTask of .*release:7 .* AccessDeniedException: not authorized"):
        make_runner(ecs, logs, clock).run(release_spec(), logs=LOGS)


def test_task_missing_past_the_grace_is_an_error(ecs, logs, clock):
    expect_run_task(ecs)
    for _ in range(3):
        ecs.stubber.add_response(
            "describe_tasks", {"tasks": [], "failures": [{"arn": TASK_ARN, "reason": "MISSING"}]},
            {"cluster": CLUSTER, "tasks": [TASK_ARN]},
        )
    with pytest.raises(TaskError, match=f"{TASK_ID} is missing"):
        make_runner(ecs, None, clock, missing_grace=3.0).run(release_spec())


def test_overrides_are_sent_as_ecs_expects(ecs, logs, clock):
    spec = release_spec(
        command=["python", "manage.py", "createsuperuser", "--noinput"],
        environment={"DJANGO_SUPERUSER_EMAIL": "a@example.com"},
        cpu=1024, memory=2048, enable_execute_command=True, started_by="keel-run/alice",
    )
    params = run_task_params(started_by="keel-run/alice")
    params["enableExecuteCommand"] = True
    params["overrides"] = {
        "containerOverrides": [{
            "name": "release",
            "command": ["python", "manage.py", "createsuperuser", "--noinput"],
            "environment": [{"name": "DJANGO_SUPERUSER_EMAIL", "value": "a@example.com"}],
        }],
        "cpu": "1024",
        "memory": "2048",
    }
    expect_run_task(ecs, params=params)
    expect_describe(ecs, task("STOPPED", exit_code=0))
    result = make_runner(ecs, None, clock).run(spec)
    assert result.succeeded


def test_running_tasks_lists_the_family_and_says_who_started_them(ecs, clock):
    other = TASK_ARN.replace(TASK_ID, "aaaa")
    ecs.stubber.add_response(
        "list_tasks", {"taskArns": [other]},
        {"cluster": CLUSTER, "family": RELEASE_FAMILY, "desiredStatus": "RUNNING"},
    )
    ecs.stubber.add_response(
        "describe_tasks", {"tasks": [task("RUNNING", arn=other, started_by="keel-release", started=True)]},
        {"cluster": CLUSTER, "tasks": [other]},
    )
    running = make_runner(ecs, None, clock).running_tasks(CLUSTER, family_of(RELEASE_TD))
    assert [r.task_id for r in running] == ["aaaa"]
    assert running[0].describe() == "task aaaa (RUNNING) started by keel-release at 2026-01-02 03:04:05 UTC"


@pytest.mark.parametrize("field", ["subnet_ids", "security_group_ids"])
def test_spec_without_network_is_refused_naming_the_field(field):
    with pytest.raises(ValueError, match=f"TaskSpec.{field} is empty"):
        release_spec(**{field: []})


def test_family_of_accepts_arn_family_revision_and_family():
    assert family_of(RELEASE_TD) == RELEASE_FAMILY
    assert family_of("keel-staging-release:7") == RELEASE_FAMILY
    assert family_of("keel-staging-release") == RELEASE_FAMILY


def test_readable_line_shows_json_log_lines_as_level_message_extras_and_exception():
    line = (
        '{"timestamp": "2026-01-02T03:04:05.000Z", "level": "WARNING", "logger": "keel.release", '
        '"message": "still waiting for the migration lock", "request_id": "-", "waited_s": 10.2, '
        '"exception": "Traceback (most recent call last):\\nValueError: x"}'
    )
    assert readable_line(line).splitlines() == [
        "WARNING still waiting for the migration lock  (waited_s=10.2)",
        "Traceback (most recent call last):",
        "ValueError: x",
    ]
    assert readable_line("plain text {not json}") == "plain text {not json}"
    assert readable_line('{"no": "message key"}') == '{"no": "message key"}'


def test_a_log_read_error_ends_the_following_but_not_the_wait(ecs, logs, clock):
    expect_run_task(ecs)
    expect_describe(ecs, task("RUNNING", started=True))
    logs.stubber.add_client_error("get_log_events", service_error_code="AccessDeniedException",
                                  service_message="not authorized to perform logs:GetLogEvents")
    expect_describe(ecs, task("STOPPED", exit_code=2))
    # no further GetLogEvents: the Stubber would fail on one

    result, _, lines = run(ecs, logs, clock)

    assert result.exit_code == 2
    assert lines == ["(keel: no more log lines: reading log stream "
                     f"{LOG_GROUP}:{STREAM} failed: AccessDeniedException: not authorized to perform logs:GetLogEvents)"]
    assert "Log lines stopped early: reading log stream" in result.failure_message()
    assert result.log_tail == ()


def test_timeout_when_the_task_cannot_be_stopped_says_it_may_still_run(ecs, logs, clock):
    expect_run_task(ecs)
    for _ in range(2):  # t = 0, 2 >= 2
        expect_describe(ecs, task("RUNNING", started=True))
    ecs.stubber.add_client_error("stop_task", service_error_code="AccessDeniedException",
                                 service_message="not authorized to perform ecs:StopTask")

    result = make_runner(ecs, None, clock).run(release_spec(), timeout=2)

    assert result.timed_out and not result.succeeded
    assert "could not be stopped (StopTask of" in result.reason()
    assert f"aws ecs stop-task --cluster {CLUSTER} --task {TASK_ARN}" in result.reason()


def test_describe_errors_are_tolerated_for_a_while(ecs, logs, clock):
    expect_run_task(ecs)
    for _ in range(2):
        ecs.stubber.add_client_error("describe_tasks", service_error_code="ServiceUnavailableException",
                                     service_message="try again", http_status_code=503)
    expect_describe(ecs, task("STOPPED", exit_code=0))

    result = make_runner(ecs, None, clock, error_grace=10.0).run(release_spec())

    assert result.succeeded


def test_describe_failing_past_the_grace_gives_up_saying_the_task_may_still_run(ecs, logs, clock):
    expect_run_task(ecs)
    for _ in range(6):  # t = 0, 2, ..., 10
        ecs.stubber.add_client_error("describe_tasks", service_error_code="ServiceUnavailableException",
                                     service_message="try again", http_status_code=503)

    with pytest.raises(TaskError) as failure:
        make_runner(ecs, None, clock, error_grace=10.0).run(release_spec())

    message = str(failure.value)
    assert "DescribeTasks of" in message and "ServiceUnavailableException: try again (for 10s)" in message
    assert f"the task may still be running: aws ecs stop-task --cluster {CLUSTER} --task {TASK_ARN}" in message
