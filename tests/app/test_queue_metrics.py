"""beat publishes Celery's queue depth, oldest-task age and its heartbeat to CloudWatch.

Real parts: tasks published by the Celery app into the Redis broker (no worker consumes them, as when
every worker is busy), and CloudWatch as a moto server on loopback (moto implements PutMetricData and
GetMetricStatistics). The last test runs the real `celery beat` command of the Procfile.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import time

import pytest
import redis
from config.queue_metrics import ENQUEUED_AT, QueuePublisher, enqueued_at, priority_keys
from django.conf import settings

from .helpers import APP_DIR, app_env, moto_server

QUEUE = "keel-test-metrics"
NAMESPACE = "keel/test"


@pytest.fixture(scope="module")
def cloudwatch_endpoint():
    yield from moto_server()


@pytest.fixture
def cloudwatch(cloudwatch_endpoint):
    import boto3

    client = boto3.client("cloudwatch", endpoint_url=cloudwatch_endpoint, region_name="us-east-1")
    yield client
    import requests

    requests.post(f"{cloudwatch_endpoint}/moto-api/reset", timeout=5)  # metrics of one test only


@pytest.fixture
def broker():
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    client.delete(*priority_keys(QUEUE))
    yield client
    client.delete(*priority_keys(QUEUE))
    client.close()


def statistic(cloudwatch, name: str, dimensions: list[dict], stat: str = "Maximum") -> list[float]:
    now = dt.datetime.now(dt.UTC)
    points = cloudwatch.get_metric_statistics(
        Namespace=NAMESPACE, MetricName=name, Dimensions=dimensions, StartTime=now - dt.timedelta(minutes=10),
        EndTime=now + dt.timedelta(minutes=1), Period=60, Statistics=[stat])["Datapoints"]
    return [p[stat] for p in points]


def test_every_published_task_carries_its_enqueue_time(broker):
    from config.celery import app

    before = time.time()
    app.send_task("keel_test.noop", queue=QUEUE)
    stamped = enqueued_at(broker.lindex(QUEUE, -1))
    assert stamped is not None and before <= stamped <= time.time()


def test_depth_and_oldest_age_of_waiting_tasks_reach_cloudwatch(broker, cloudwatch):
    from config.celery import app

    first_before = time.time()
    app.send_task("keel_test.noop", queue=QUEUE)
    first_after = time.time()
    time.sleep(0.3)
    app.send_task("keel_test.noop", queue=QUEUE)
    app.send_task("keel_test.noop", queue=QUEUE, priority=6)  # kombu keeps it in its own list
    now = time.time() + 120
    publisher = QueuePublisher(redis=broker, cloudwatch=cloudwatch, namespace=NAMESPACE, queues=(QUEUE,),
                               clock=lambda: now)
    publisher.publish()

    dims = [{"Name": "Queue", "Value": QUEUE}]
    assert statistic(cloudwatch, "QueueDepth", dims) == [3.0]
    [age] = statistic(cloudwatch, "OldestTaskAgeSeconds", dims)
    # The first task's age, not the newest one's (0.3 s younger).
    assert now - first_after - 0.01 <= age <= now - first_before + 0.01
    assert statistic(cloudwatch, "BeatHeartbeat", [], "SampleCount") == [1.0]


def test_an_empty_queue_publishes_zero_depth_and_age(broker, cloudwatch):
    QueuePublisher(redis=broker, cloudwatch=cloudwatch, namespace=NAMESPACE, queues=(QUEUE,)).publish()
    dims = [{"Name": "Queue", "Value": QUEUE}]
    assert statistic(cloudwatch, "QueueDepth", dims) == [0.0]
    assert statistic(cloudwatch, "OldestTaskAgeSeconds", dims) == [0.0]


def test_publishes_once_per_interval_and_survives_a_cloudwatch_outage(broker, cloudwatch):
    clock = [1000.0]
    publisher = QueuePublisher(redis=broker, cloudwatch=cloudwatch, namespace=NAMESPACE, queues=(QUEUE,),
                               clock=lambda: clock[0])
    assert publisher.due_in() == 60  # published now
    clock[0] += 30
    assert publisher.due_in() == 30  # not again before the minute is up
    assert statistic(cloudwatch, "BeatHeartbeat", [], "SampleCount") == [1.0]

    class Down:
        def put_metric_data(self, **kwargs):
            raise ConnectionError("CloudWatch unreachable")

    publisher.cloudwatch = Down()
    clock[0] += 30
    assert publisher.due_in() == 60  # logged, beat keeps scheduling


def test_a_message_without_the_header_counts_but_has_no_age():
    assert enqueued_at(b'{"headers": {"id": "x"}}') is None
    assert enqueued_at(b"not json") is None
    assert enqueued_at(f'{{"headers": {{"{ENQUEUED_AT}": 12.5}}}}') == 12.5


def test_the_beat_process_publishes_its_heartbeat_and_the_queue(broker, cloudwatch, cloudwatch_endpoint, tmp_path):
    from config.celery import app

    app.send_task("keel_test.noop", queue="celery")  # beat watches the default queue
    env = app_env(QUEUE_METRICS_NAMESPACE=NAMESPACE, AWS_ENDPOINT_URL_CLOUDWATCH=cloudwatch_endpoint,
                  AWS_S3_REGION_NAME="us-east-1")
    beat = subprocess.Popen(
        [sys.executable, "-m", "celery", "--app", "config.celery", "beat", "--schedule", str(tmp_path / "schedule")],
        cwd=APP_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not statistic(cloudwatch, "BeatHeartbeat", [], "SampleCount"):
            time.sleep(0.5)
    finally:
        beat.terminate()
        output = beat.communicate(timeout=30)[0]
        redis.Redis.from_url(settings.CELERY_BROKER_URL).delete("celery")
    assert statistic(cloudwatch, "BeatHeartbeat", [], "SampleCount") == [1.0], output[-2000:]
    assert statistic(cloudwatch, "QueueDepth", [{"Name": "Queue", "Value": "celery"}]) >= [1.0]
