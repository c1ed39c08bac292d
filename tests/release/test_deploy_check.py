"""The truthful deploy status: DescribeServices (botocore Stubber) until every service really rolled forward."""

from __future__ import annotations

import base64
import datetime as dt

import pytest
from keel.components.deploy_check import DeployCheckProvider, DeployFailed, DeployWatcher, services_prop
from pulumi.dynamic.dynamic import serialize_provider

from .stubs import ACCOUNT, CLUSTER, REGION

PROCESSES = ("web", "worker", "beat")
NAMES = {p: f"keel-staging-{p}" for p in PROCESSES}
TD = {p: f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/keel-staging-{p}:12" for p in PROCESSES}
OLD_TD = {p: td.replace(":12", ":11") for p, td in TD.items()}
WANTED = {p: (NAMES[p], TD[p]) for p in PROCESSES}
WHEN = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


def deployment(td, status="PRIMARY", rollout="COMPLETED", running=2, desired=2, failed=0, reason=None, ident="d1"):
    d = {"id": f"ecs-svc/{ident}", "status": status, "taskDefinition": td, "desiredCount": desired,
         "runningCount": running, "pendingCount": desired - running, "failedTasks": failed, "rolloutState": rollout}
    if reason:
        d["rolloutStateReason"] = reason
    return d


def service(process, deployments, events=()):
    return {
        "serviceName": NAMES[process],
        "serviceArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/keel-staging/{NAMES[process]}",
        "deployments": deployments,
        "events": [{"id": f"e{i}", "createdAt": WHEN, "message": m} for i, m in enumerate(events)],
    }


def healthy(process):
    return service(process, [deployment(TD[process])])


def expect_services(ecs, services):
    ecs.stubber.add_response(
        "describe_services", {"services": services, "failures": []},
        {"cluster": CLUSTER, "services": [NAMES[p] for p in PROCESSES]},
    )


@pytest.fixture
def output():
    lines = []
    return lambda message, error=False: lines.extend((error, line) for line in message.splitlines()), lines


@pytest.fixture
def watcher(ecs, clock, output):
    return DeployWatcher(ecs, clock=clock, sleep=clock.sleep, poll_interval=15.0, output=output[0])


def test_completed_when_every_primary_runs_the_requested_revision(watcher, ecs, output):
    in_progress = service("web", [deployment(TD["web"], rollout="IN_PROGRESS", running=1),
                                  deployment(OLD_TD["web"], status="ACTIVE", ident="d0")])
    expect_services(ecs, [in_progress, healthy("worker"), healthy("beat")])
    expect_services(ecs, [healthy(p) for p in PROCESSES])

    summaries = watcher.wait(CLUSTER, WANTED, timeout=1800)

    assert summaries == {p: f"COMPLETED on keel-staging-{p}:12" for p in PROCESSES}
    progress = [line for _, line in output[1]]
    assert progress[0].startswith("deploy: web IN_PROGRESS, running 1/2, pending 1, failed tasks 0")
    assert progress[-1].startswith("deploy: web COMPLETED on keel-staging-web:12 [15s]")


def test_circuit_breaker_rollback_fails_naming_service_revision_events_and_stopped_tasks(watcher, ecs):
    rolled_back = service(
        "web",
        [deployment(OLD_TD["web"], rollout="IN_PROGRESS", ident="d2"),
         deployment(TD["web"], status="ACTIVE", rollout="FAILED", running=0, failed=3, ident="d1",
                    reason="ECS deployment circuit breaker: tasks failed to start.")],
        events=["(service keel-staging-web) rolling back to deployment ecs-svc/d0.",
                "(service keel-staging-web) deployment ecs-svc/d1 deployment failed: tasks failed to start."],
    )
    expect_services(ecs, [rolled_back, healthy("worker"), healthy("beat")])
    stopped = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/keel-staging/deadbeef"
    ecs.stubber.add_response(
        "list_tasks", {"taskArns": [stopped]},
        {"cluster": CLUSTER, "serviceName": NAMES["web"], "desiredStatus": "STOPPED"},
    )
    ecs.stubber.add_response(
        "describe_tasks",
        {"tasks": [{"taskArn": stopped, "taskDefinitionArn": TD["web"], "lastStatus": "STOPPED",
                    "stopCode": "EssentialContainerExited", "stoppedReason": "Essential container in task exited",
                    "containers": [{"name": "web", "exitCode": 3, "reason": ""}]}]},
        {"cluster": CLUSTER, "tasks": [stopped]},
    )

    with pytest.raises(DeployFailed) as failure:
        watcher.wait(CLUSTER, WANTED, timeout=1800)

    message = str(failure.value)
    assert "service web (keel-staging-web) did not roll forward" in message
    assert "rolled back: PRIMARY runs keel-staging-web:11, not keel-staging-web:12" in message
    assert f"Requested task definition: {TD['web']}" in message
    assert "Rollout: FAILED: ECS deployment circuit breaker: tasks failed to start." in message
    assert "2026-01-02 03:04:05 (service keel-staging-web) rolling back to deployment ecs-svc/d0." in message
    assert "task deadbeef: EssentialContainerExited - Essential container in task exited [web: exit 3]" in message
    assert "worker" not in message.split("pulumi-aws may report")[0].replace("keel-staging-web", "")


def test_failed_rollout_of_the_primary_fails(watcher, ecs):
    failed = service("beat", [deployment(TD["beat"], rollout="FAILED", running=0, reason="tasks failed to start")])
    expect_services(ecs, [healthy("web"), healthy("worker"), failed])
    ecs.stubber.add_response("list_tasks", {"taskArns": []},
                             {"cluster": CLUSTER, "serviceName": NAMES["beat"], "desiredStatus": "STOPPED"})
    with pytest.raises(DeployFailed, match=r"service beat \(keel-staging-beat\) did not roll forward: deployment ecs-svc/d1 FAILED"):
        watcher.wait(CLUSTER, WANTED, timeout=1800)


def test_stuck_deployment_fails_after_the_timeout(watcher, ecs, clock):
    stuck = service("worker", [deployment(TD["worker"], rollout="IN_PROGRESS", running=0, desired=1),
                               deployment(OLD_TD["worker"], status="ACTIVE", running=1, desired=1, ident="d0")],
                    events=["(service keel-staging-worker) is unable to consistently start tasks successfully."])
    for _ in range(5):  # t = 0, 15, 30, 45, 60
        expect_services(ecs, [healthy("web"), stuck, healthy("beat")])
    ecs.stubber.add_response("list_tasks", {"taskArns": []},
                             {"cluster": CLUSTER, "serviceName": NAMES["worker"], "desiredStatus": "STOPPED"})

    with pytest.raises(DeployFailed) as failure:
        watcher.wait(CLUSTER, WANTED, timeout=60)

    message = str(failure.value)
    assert "service worker (keel-staging-worker) is stuck: not COMPLETED after 1m00s" in message
    assert "IN_PROGRESS, running 0/1" in message
    assert "is unable to consistently start tasks successfully." in message
    assert clock.now - 1000.0 == 60.0


def test_unknown_service_is_named(watcher, ecs):
    ecs.stubber.add_response(
        "describe_services",
        {"services": [healthy("web"), healthy("worker")], "failures": [{"arn": NAMES["beat"], "reason": "MISSING"}]},
        {"cluster": CLUSTER, "services": [NAMES[p] for p in PROCESSES]},
    )
    with pytest.raises(DeployFailed, match="does not know these services .*keel-staging-beat \\(MISSING\\)"):
        watcher.wait(CLUSTER, WANTED, timeout=60)


def provider_props(tds=TD, **changes):
    values = {"cluster_arn": CLUSTER, "services": services_prop({p: (NAMES[p], tds[p]) for p in PROCESSES}),
              "aws": {"region": REGION, "profile": None}, "timeout_minutes": 30.0, "summaries": None, "__provider": "x"}
    values.update(changes)
    return values


def test_provider_update_fails_the_pulumi_update_with_the_message(ecs, clock, output):
    failed = service("web", [deployment(OLD_TD["web"], ident="d2"),
                             deployment(TD["web"], status="ACTIVE", rollout="FAILED", reason="circuit breaker")])
    expect_services(ecs, [failed, healthy("worker"), healthy("beat")])
    ecs.stubber.add_response("list_tasks", {"taskArns": []},
                             {"cluster": CLUSTER, "serviceName": NAMES["web"], "desiredStatus": "STOPPED"})
    made = []

    def factory(identity):
        made.append((identity.region, identity.profile))
        return DeployWatcher(ecs, clock=clock, sleep=clock.sleep, output=output[0])

    with pytest.raises(DeployFailed, match="service web"):
        DeployCheckProvider(factory).update("d", provider_props(OLD_TD), provider_props())
    assert made == [(REGION, None)]
    errors = [line for error, line in output[1] if error]
    assert errors[0].startswith("Deploy failed: service web (keel-staging-web) did not roll forward")


def test_provider_create_records_the_summaries(ecs, clock, output):
    expect_services(ecs, [healthy(p) for p in PROCESSES])
    provider = DeployCheckProvider(lambda identity: DeployWatcher(ecs, clock=clock, sleep=clock.sleep, output=output[0]))
    result = provider.create(provider_props())
    assert result.outs["summaries"]["web"] == "COMPLETED on keel-staging-web:12"
    assert "__provider" not in result.outs


def test_diff_reruns_whenever_a_requested_task_definition_changes():
    provider = DeployCheckProvider()
    assert provider.diff("d", provider_props(), provider_props()).changes is False
    assert provider.diff("d", provider_props(), provider_props(timeout_minutes=5.0)).changes is False
    only_beat = dict(TD, beat=TD["beat"].replace(":12", ":13"))
    assert provider.diff("d", provider_props(), provider_props(only_beat)).changes is True
    unknown = dict(TD, web="04da6b54-80e4-46f7-96ec-b56ff0331ba9")
    assert provider.diff("d", provider_props(), provider_props(unknown)).changes is True


def test_check_and_diff_make_no_aws_call():
    def no_aws(*_args):
        raise AssertionError("AWS touched during preview")

    provider = DeployCheckProvider(no_aws)
    assert provider.check({}, provider_props()).failures == []
    provider.diff("d", provider_props(OLD_TD), provider_props())
    bad = provider.check({}, provider_props(services={}, timeout_minutes=-1)).failures
    assert [f.property for f in bad] == ["services", "timeout_minutes"]


def test_provider_pickles_by_reference():
    assert b"keel.components.deploy_check" in base64.b64decode(serialize_provider(DeployCheckProvider()))


def test_unknown_aws_profile_fails_with_a_clear_message(monkeypatch):
    monkeypatch.setattr("keel.components.deploy_check.say", lambda message, error=False: None)
    with pytest.raises(DeployFailed, match=r"AWS is not reachable with region 'eu-west-1', profile 'no-such-keel-profile'"):
        DeployCheckProvider().create(provider_props(aws={"region": REGION, "profile": "no-such-keel-profile"}))


def test_describe_errors_are_tolerated_then_reported(ecs, clock, output):
    watcher = DeployWatcher(ecs, clock=clock, sleep=clock.sleep, poll_interval=15.0, output=output[0], error_grace=30.0)
    ecs.stubber.add_client_error("describe_services", service_error_code="ServerException", service_message="blip")
    expect_services(ecs, [healthy(p) for p in PROCESSES])
    assert watcher.wait(CLUSTER, WANTED, timeout=1800)["beat"] == "COMPLETED on keel-staging-beat:12"

    for _ in range(3):  # t = 15, 30, 45: failing for 30 s
        ecs.stubber.add_client_error("describe_services", service_error_code="ServerException", service_message="down")
    with pytest.raises(DeployFailed, match=r"Deploy check failed: DescribeServices failed: .*ServerException.* \(for 30s\)"):
        watcher.wait(CLUSTER, WANTED, timeout=1800)
