"""`keel status`: URL, service counts and task definitions, last deployment, last release."""

from __future__ import annotations

import datetime as dt

from .conftest import CLUSTER, task

WEB_TD = "arn:aws:ecs:eu-west-1:123456789012:task-definition/keel-staging-web:7"
AT = dt.datetime(2026, 11, 24, 2, 0, tzinfo=dt.UTC)


def service(process, desired, running, rollout, reason=None, deploying=None):
    td = WEB_TD.replace("web", process)
    deployment = {"status": "PRIMARY", "taskDefinition": deploying or td, "rolloutState": rollout}
    if reason:
        deployment["rolloutStateReason"] = reason
    return {
        "serviceName": f"keel-staging-{process}",
        "status": "ACTIVE",
        "desiredCount": desired,
        "runningCount": running,
        "taskDefinition": td,
        "deployments": [deployment],
    }


def release_task(arn_suffix, started_by, exit_code, stopped_at, **extra):
    described = task("STOPPED", exit_code=exit_code, startedBy=started_by, stoppedAt=stopped_at, **extra)
    return {**described, "taskArn": f"arn:aws:ecs:eu-west-1:123456789012:task/{CLUSTER}/{arn_suffix}"}


def expect_services(stubber, services):
    stubber.add_response(
        "describe_services",
        {"services": services, "failures": []},
        {"cluster": CLUSTER, "services": ["keel-staging-web", "keel-staging-worker", "keel-staging-beat"]},
    )


def expect_release_tasks(stubber, running, stopped):
    for status, tasks in (("RUNNING", running), ("STOPPED", stopped)):
        stubber.add_response(
            "list_tasks",
            {"taskArns": [t["taskArn"] for t in tasks]},
            {"cluster": CLUSTER, "family": "keel-staging-release", "desiredStatus": status},
        )
        if tasks:
            stubber.add_response("describe_tasks", {"tasks": tasks, "failures": []})
        if any(t.get("startedBy") == "keel-release" for t in tasks):
            return  # a release running now is the answer; stopped ones are not asked for


def test_status_shows_services_deployments_and_the_last_release(keel, ecs_stub, outputs_file):
    _, stubber = ecs_stub
    expect_services(stubber, [
        service("web", 2, 2, "COMPLETED"),
        service("worker", 1, 0, "FAILED", reason="ECS deployment circuit breaker: tasks failed to start."),
        service("beat", 1, 1, "IN_PROGRESS", deploying=WEB_TD.replace("web:7", "beat:8")),
    ])
    expect_release_tasks(stubber, running=[], stopped=[
        release_task("release0001", "keel-release", 0, AT),
        # A later `keel run` one-off of the same family is not a release.
        release_task("oneoff0002", "keel-run", 1, AT + dt.timedelta(minutes=5)),
    ])

    result = keel("status", "--outputs", str(outputs_file()))

    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert "https://staging.example.org" in lines[1]
    web = next(line for line in lines if line.startswith("web "))
    assert web.split()[:4] == ["web", "2", "2", "keel-staging-web:7"] and web.endswith("COMPLETED")
    worker = next(line for line in lines if line.startswith("worker "))
    assert "FAILED: ECS deployment circuit breaker: tasks failed to start." in worker
    beat = next(line for line in lines if line.startswith("beat "))
    assert "IN_PROGRESS (deploying keel-staging-beat:8)" in beat
    assert lines[2].startswith("image    123456789012.dkr.ecr.eu-west-1.amazonaws.com/keel@sha256:")
    assert lines[3] == "dashboard https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1" \
        "#dashboards/dashboard/keel-staging"
    assert "release  succeeded, exit code 0 (keel-staging-release:7, stopped 2026-11-24T02:00:00Z)" in lines
    assert lines[-1] == "one-offs none running"


def test_a_release_that_never_started(keel, ecs_stub, outputs_file):
    _, stubber = ecs_stub
    expect_services(stubber, [service(p, 1, 1, "COMPLETED") for p in ("web", "worker", "beat")])
    expect_release_tasks(stubber, running=[], stopped=[
        release_task("release0001", "keel-release", None, AT, stopCode="TaskFailedToStart",
                     stoppedReason="CannotPullContainerError: pull access denied"),
    ])

    result = keel("status", "--outputs", str(outputs_file()))

    assert "never started" in result.out
    assert "TaskFailedToStart: CannotPullContainerError: pull access denied" in result.out


def test_a_release_running_now_and_none_recent(keel, ecs_stub, outputs_file):
    _, stubber = ecs_stub
    expect_services(stubber, [service(p, 1, 1, "COMPLETED") for p in ("web", "worker", "beat")])
    running = {**task("RUNNING", startedBy="keel-release", createdAt=AT)}
    expect_release_tasks(stubber, running=[running], stopped=[])
    assert "running now" in keel("status", "--outputs", str(outputs_file())).out

    expect_services(stubber, [service(p, 1, 1, "COMPLETED") for p in ("web", "worker", "beat")])
    expect_release_tasks(stubber, running=[], stopped=[])
    assert "release  none in the last hour" in keel("status", "--outputs", str(outputs_file())).out


def test_access_denied_is_a_short_error(keel, ecs_stub, outputs_file):
    _, stubber = ecs_stub
    stubber.add_client_error("describe_services", "AccessDeniedException", "not authorized to ecs:DescribeServices")

    result = keel("status", "--outputs", str(outputs_file()))

    assert result.code == 1
    assert result.err.splitlines()[0] == (
        "keel: AWS denied DescribeServices: not authorized to ecs:DescribeServices"
    )
    assert "Traceback" not in result.err




def test_running_one_offs_are_listed_and_are_not_releases(keel, ecs_stub, outputs_file):
    _, stubber = ecs_stub
    expect_services(stubber, [service(p, 1, 1, "COMPLETED") for p in ("web", "worker", "beat")])
    console = {**task("RUNNING", startedBy="keel-shell", createdAt=AT), "taskArn": f"arn:aws:ecs:eu-west-1:1:task/{CLUSTER}/console01"}
    expect_release_tasks(stubber, running=[console], stopped=[release_task("release0001", "keel-release", 0, AT)])

    out = keel("status", "--outputs", str(outputs_file())).out

    assert "release  succeeded, exit code 0" in out
    assert "one-offs task console01 (keel-shell, RUNNING, since 2026-11-24T02:00:00Z)" in out


def test_status_says_when_a_stack_has_no_dashboard(keel, ecs_stub, outputs_file):
    from keel import outputs as out

    from .conftest import stack_outputs

    _, stubber = ecs_stub
    expect_services(stubber, [service(p, 1, 1, "COMPLETED") for p in ("web", "worker", "beat")])
    expect_release_tasks(stubber, running=[], stopped=[])
    values = {k: v for k, v in stack_outputs().items() if k != out.DASHBOARD_URL}
    result = keel("status", "--outputs", str(outputs_file(values)))
    assert "dashboard (none: keel:dashboard is off)" in result.out.splitlines()
