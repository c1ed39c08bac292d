"""A Fargate Spot interruption, drilled on a real worker and Redis: SIGTERM, then SIGKILL at the stop timeout.

ECS gives a Spot task two minutes' notice and sends SIGTERM at once; the container is killed when the
task definition's stopTimeout runs out (120 s for worker, Fargate's maximum, equal to the notice). Celery's
soft shutdown (WORKER_SOFT_SHUTDOWN_TIMEOUT) lets running tasks finish, then puts unfinished ones back on
the queue (acks late). The drill runs the same sequence with the probe's 4 s soft shutdown and measures
what the shutdown costs beyond it, then checks the production numbers with that cost still fit: 0 tasks
lost. The limit: a task running longer than the soft shutdown is stopped and runs again from the start.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import redis
from config import contract
from config.celery import app
from django.conf import settings
from keel.components.taskdefinitions import STOP_TIMEOUTS

from .helpers import REPO_ROOT, app_env
from .test_celery import Output

QUEUE = "keel-test-spot"
SPOT_NOTICE_SECONDS = 120  # ECS developer guide, "Fargate Spot": a two-minute warning
PROBE_SOFT_SHUTDOWN = 4  # tests/app/celery_probe.py


def test_a_spot_interruption_loses_no_task_inside_the_stop_timeout():
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    broker.delete(QUEUE)
    env = app_env()
    env["PYTHONPATH"] += f":{REPO_ROOT}"
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "--app", "config.celery", "worker", "--without-mingle", "--without-gossip",
         "-I", "tests.app.celery_probe", "-Q", QUEUE, "--concurrency", "3", "--loglevel", "INFO"],
        cwd=REPO_ROOT / "app", env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = Output(worker.stdout)
    try:
        output.wait_for("ready.")
        finishing = app.send_task("keel_test.sleep", args=[1.0], queue=QUEUE)
        long_ones = [app.send_task("keel_test.sleep", args=[90], queue=QUEUE) for _ in range(2)]
        waiting = [app.send_task("keel_test.sleep", args=[90], queue=QUEUE) for _ in range(2)]  # never started
        deadline = time.monotonic() + 30
        while output.count('"message": "sleeping"') < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        interrupted = time.monotonic()
        worker.send_signal(signal.SIGTERM)  # the Spot notice
        worker.wait(timeout=STOP_TIMEOUTS["worker"])  # SIGKILL would come here
        shutdown = time.monotonic() - interrupted
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    queued = {json.loads(raw)["headers"]["id"] for raw in broker.lrange(QUEUE, 0, -1)}
    broker.delete(QUEUE)

    assert finishing.get(timeout=5) == 1.0  # finished during the soft shutdown
    assert queued == {t.id for t in long_ones + waiting}  # back on the queue or never taken: 0 lost
    overhead = shutdown - PROBE_SOFT_SHUTDOWN  # what stopping costs beyond the soft-shutdown window
    print(f"spot drill: SIGTERM to exit {shutdown:.2f} s, {overhead:.2f} s beyond the soft shutdown")
    assert 0 <= overhead < 10, shutdown
    # Production: the whole shutdown fits the stop timeout, which fits the Spot notice.
    assert contract.WORKER_SOFT_SHUTDOWN_TIMEOUT + overhead <= STOP_TIMEOUTS["worker"] <= SPOT_NOTICE_SECONDS
