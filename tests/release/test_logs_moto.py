"""Log following against a real CloudWatch Logs API (moto server on loopback), ECS stubbed.

The Stubber tests fix the exact call sequence; these check that the follower's reading of
GetLogEvents (ResourceNotFoundException until the stream exists, the same nextForwardToken at the
end of the stream, only new events after it) holds against a real implementation.
"""

from __future__ import annotations

import time

import boto3
import pytest
from keel.tasks import LogFollower, LogSource

from .stubs import (
    LOG_GROUP,
    LOG_PREFIX,
    REGION,
    STREAM,
    expect_describe,
    expect_run_task,
    make_runner,
    release_spec,
    task,
)


@pytest.fixture
def cloudwatch(moto_endpoint, request):
    client = boto3.client("logs", endpoint_url=moto_endpoint, region_name=REGION,
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    group = f"{LOG_GROUP}/{request.node.name}"  # one group per test: the server lives for the module
    client.create_log_group(logGroupName=group)
    client.group = group
    return client


def put(client, group, stream, messages):
    now = int(time.time() * 1000)
    client.put_log_events(logGroupName=group, logStreamName=stream,
                          logEvents=[{"timestamp": now + i, "message": m} for i, m in enumerate(messages)])


def test_follower_waits_for_the_stream_then_returns_only_new_lines(cloudwatch):
    follower = LogFollower(cloudwatch, cloudwatch.group, "keel/release/abc")
    assert follower.poll() == [] and not follower.found

    cloudwatch.create_log_stream(logGroupName=cloudwatch.group, logStreamName="keel/release/abc")
    put(cloudwatch, cloudwatch.group, "keel/release/abc", ["one", "two"])
    assert [line.message for line in follower.poll()] == ["one", "two"] and follower.found
    assert follower.poll() == []

    put(cloudwatch, cloudwatch.group, "keel/release/abc", ["three"])
    assert [line.message for line in follower.poll()] == ["three"]


def test_run_follows_a_stream_created_after_the_task_started(cloudwatch, ecs, clock):
    """ECS stubbed, logs real: the stream appears while the task runs, more lines after it stops."""
    def sleep(seconds):
        clock.sleep(seconds)
        if clock.now == 1004.0:  # the container's first line, two polls after RunTask
            cloudwatch.create_log_stream(logGroupName=cloudwatch.group, logStreamName=STREAM)
            put(cloudwatch, cloudwatch.group, STREAM, ["Operations to perform:", "  Apply all migrations: documents"])
        if clock.now == 1006.0:
            put(cloudwatch, cloudwatch.group, STREAM, ["release: done"])  # flushed as the task stops

    expect_run_task(ecs)
    expect_describe(ecs, task("PENDING"))
    expect_describe(ecs, task("RUNNING", started=True))
    expect_describe(ecs, task("RUNNING", started=True))
    expect_describe(ecs, task("STOPPED", exit_code=0))
    runner = make_runner(ecs, cloudwatch, clock)
    runner.sleep = sleep
    lines = []

    result = runner.run(release_spec(), logs=LogSource(cloudwatch.group, LOG_PREFIX),
                        on_log=lambda line: lines.append(line.message))

    assert result.succeeded
    assert lines == ["Operations to perform:", "  Apply all migrations: documents", "release: done"]
