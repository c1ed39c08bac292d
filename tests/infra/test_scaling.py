"""The worker's scaling arithmetic, replayed over metric series through the expressions the stack configures.

The expressions are read from the evaluated stacks (not retyped here) and computed with a small evaluator
of the CloudWatch metric-math subset they use (``/``, IF, FILL, AND, comparisons; a division by zero gives
no datapoint, as in CloudWatch). Target tracking's step is App Auto Scaling's documented proportional rule
(keel.components.autoscaling.backlog_capacity). One series is recorded live: a real Celery worker draining
real Redis, sampled with beat's own reader (config.queue_metrics.read_queue).
"""

from __future__ import annotations

import math
import re
import subprocess
import sys
import time

import pytest
from keel.components.autoscaling import backlog_capacity, wakes_from_zero

from .conftest import evaluated

REPO_ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]


def metric_math(expression: str, **values: float | None) -> float | None:
    """CloudWatch metric math for one datapoint of each named series (None: no datapoint)."""
    def fill(value, default):
        return default if value is None else value

    def if_(condition, true, false):
        return true if condition else false

    python = re.sub(r"\bIF\(", "if_(", re.sub(r"\bFILL\(", "fill(", expression))
    python = python.replace(" AND ", " and ").replace(" OR ", " or ")
    try:
        return eval(python, {"__builtins__": {}}, {"fill": fill, "if_": if_, **values})  # noqa: S307 - our own text
    except (ZeroDivisionError, TypeError):
        return None


def backlog_expression(stack) -> tuple[str, float]:
    (policy,) = [r for r in stack.by_type("aws:appautoscaling/policy:Policy") if r.name == "scale-worker-backlog"]
    tracking = policy.inputs["targetTrackingScalingPolicyConfiguration"]
    (query,) = [m for m in tracking["customizedMetricSpecification"]["metrics"] if m.get("returnData")]
    return query["expression"], tracking["targetValue"]


def wake_expression(stack) -> str:
    (alarm,) = [a for a in stack.by_type("aws:cloudwatch/metricAlarm:MetricAlarm")
                if a.inputs["name"].endswith("wake-from-zero")]
    return next(q for q in alarm.inputs["metricQueries"] if q.get("returnData"))["expression"]


def replay(stack, depths: list[float], start: int, min_count: int, max_count: int) -> list[int]:
    """The worker count minute by minute: target tracking on the configured backlog expression, and the
    wake-from-zero alarm when the stack has one."""
    expression, target = backlog_expression(stack)
    wake = wake_expression(stack) if min_count == 0 else None
    count, counts = start, []
    for depth in depths:
        backlog = metric_math(expression, depth=depth, running=count)
        if backlog is not None:
            count = backlog_capacity(count, backlog * count, target, min_count, max_count)
        elif wake and metric_math(wake, depth=depth, desired=None if count == 0 else count) == 1:
            count = min(max_count, count + 1)  # the step policy's +1
        counts.append(count)
    return counts


def test_the_configured_expressions_compute_what_the_docs_say():
    prod = evaluated("prod")
    expression, target = backlog_expression(prod)
    assert metric_math(expression, depth=50, running=2) == 25 and target == 10
    assert metric_math(expression, depth=5, running=0) is None  # no datapoint: target tracking holds
    wake = wake_expression(evaluated("dev"))
    assert metric_math(wake, depth=3, desired=None) == 1 and metric_math(wake, depth=3, desired=0) == 1
    assert metric_math(wake, depth=0, desired=None) == 0 and metric_math(wake, depth=3, desired=1) == 0
    assert wakes_from_zero(None, 3) and not wakes_from_zero(1, 3)


def test_a_burst_scales_prod_out_to_max_and_back_to_its_floor():
    prod = evaluated("prod")
    worker = __import__("keel.stack_config", fromlist=["load"]).load(prod.config, "prod").processes["worker"]
    burst = [0, 0, 35, 120, 400, 260, 90, 30, 4, 0, 0]
    counts = replay(prod, burst, worker.count, worker.min_count, worker.max_count)
    # ceil(depth / 10) within 2..8: 400 waiting would need 40 workers, maxCount caps it.
    assert counts == [2, 2, 4, 8, 8, 8, 8, 3, 2, 2, 2]
    assert max(counts) == worker.max_count and min(counts) == worker.min_count


def test_dev_wakes_from_zero_when_a_task_waits_and_sleeps_when_idle():
    dev = evaluated("dev")
    counts = replay(dev, [0, 0, 1, 1, 0, 0, 25, 0], start=0, min_count=0, max_count=2)
    # minute 3: one task waits, no worker -> the alarm adds one; minute 4: 1 waiting / 1 running keeps it;
    # idle -> target tracking goes to 0; 25 waiting with 0 running -> wake, then 25/1 -> 2 (maxCount).
    assert counts == [0, 0, 1, 1, 0, 0, 1, 0]


@pytest.fixture
def drained_series(tmp_path):
    """QueueDepth sampled every 0.25 s while one real worker drains 24 short tasks from real Redis."""
    import redis
    from config.celery import app
    from config.queue_metrics import read_queue
    from django.conf import settings

    queue = "keel-test-scaling"
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    client.delete(queue)
    for _ in range(24):
        app.send_task("keel_test.sleep", args=[0.15], queue=queue)
    env = {**__import__("os").environ, "PYTHONPATH": f"{REPO_ROOT / 'app'}:{REPO_ROOT}"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "--app", "config.celery", "worker", "--without-mingle", "--without-gossip",
         "-I", "tests.app.celery_probe", "-Q", queue, "--concurrency", "1", "--loglevel", "WARNING"],
        cwd=REPO_ROOT / "app", env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    series = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            series.append(read_queue(client, queue, time.time()).depth)
            if series[-1] == 0 and len(series) > 3:
                break
            time.sleep(0.25)
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        client.delete(queue)
    return series


def test_a_recorded_drain_scales_staging_down_as_the_queue_empties(drained_series):
    assert drained_series[0] == 24 and drained_series[-1] == 0
    assert all(a >= b for a, b in zip(drained_series, drained_series[1:], strict=False))  # only drains
    staging = evaluated("staging")
    _, target = backlog_expression(staging)
    counts = replay(staging, drained_series, start=1, min_count=1, max_count=2)
    # Above 10 waiting per worker staging wants 2 (its maxCount); once the recorded depth falls to the target
    # or below, ceil(depth / target) returns it to its floor of 1.
    for depth, count in zip(drained_series, counts, strict=True):
        assert count == max(1, min(2, math.ceil(depth / target))), (depth, count)
