"""The worker and beat processes: settings that keep tasks safe, and a real worker's shutdown."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time

import pytest
import redis
from config import contract
from config.logs import REQUEST_ID
from django.conf import settings

from .helpers import REPO_ROOT, app_env

QUEUE = "keel-test-shutdown"


def test_delivery_settings_never_lose_or_double_run_a_task():
    from config.celery import app

    conf = app.conf
    assert conf.task_acks_late and conf.task_reject_on_worker_lost
    assert conf.worker_prefetch_multiplier == 1
    visibility = settings.CELERY_VISIBILITY_TIMEOUT
    assert conf.broker_transport_options["visibility_timeout"] == visibility
    assert conf.result_backend_transport_options["visibility_timeout"] == visibility
    assert conf.task_soft_time_limit < conf.task_time_limit < visibility
    assert conf.worker_soft_shutdown_timeout == contract.WORKER_SOFT_SHUTDOWN_TIMEOUT
    assert conf.broker_connection_retry_on_startup
    assert conf.worker_cancel_long_running_tasks_on_connection_loss
    assert conf.worker_hijack_root_logger is False


def test_beat_schedule_purges_expired_documents_every_interval():
    from config.celery import app

    entry = app.conf.beat_schedule["purge-expired-documents"]
    assert entry["task"] == "documents.tasks.purge_expired_documents"
    assert entry["schedule"] == settings.DOCUMENT_PURGE_INTERVAL
    app.loader.import_default_modules()  # what the worker and beat do at start
    assert "documents.tasks.purge_expired_documents" in app.tasks  # autodiscovered


def test_shared_tasks_bind_to_the_configured_app():
    from celery import current_app
    from config.celery import app

    assert current_app._get_current_object() is app
    assert current_app.conf.broker_url == settings.CELERY_BROKER_URL


def test_sigterm_is_remapped_to_celery_soft_shutdown():
    import billiard.common

    assert billiard.common.REMAP_SIGTERM == "SIGQUIT"


class Output:
    """Collects a process's stdout lines in the background."""

    def __init__(self, stream):
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream):
        for line in stream:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if sum(text in line for line in self.lines) >= 1:
                return
            time.sleep(0.1)
        raise AssertionError(f"{text!r} not seen; output:\n" + "\n".join(self.lines[-30:]))

    def count(self, text: str) -> int:
        return sum(text in line for line in self.lines)


@pytest.fixture
def broker():
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    client.delete(QUEUE)
    yield client
    client.delete(QUEUE)
    client.close()


def start_worker() -> tuple[subprocess.Popen, Output]:
    """The Procfile's worker (prefork, concurrency 2) with the probe tasks, on the test queue."""
    env = app_env()
    env["PYTHONPATH"] += f":{REPO_ROOT}"
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "--app", "config.celery", "worker", "--without-mingle", "--without-gossip",
         "-I", "tests.app.celery_probe", "-Q", QUEUE, "--concurrency", "2", "--loglevel", "INFO"],
        cwd=REPO_ROOT / "app", env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    return worker, Output(worker.stdout)


def test_pool_children_share_the_preloaded_s3_client_and_time_limits_still_kill(broker):
    from celery.exceptions import TimeLimitExceeded
    from config.celery import app

    worker, output = start_worker()
    try:
        output.wait_for("ready.")
        inherited = app.send_task("keel_test.preloaded", queue=QUEUE)
        stuck = app.send_task("keel_test.stubborn", args=[30], queue=QUEUE, soft_time_limit=1, time_limit=2)
        # Loaded in the main process before the fork, not by the task, and the heap frozen there.
        assert inherited.get(timeout=30) == {"boto3_loaded": True, "s3_resource_inherited": True, "frozen": True}
        with pytest.raises(TimeLimitExceeded):  # the prefork pool still kills a stuck child
            stuck.get(timeout=30)
    finally:
        worker.kill()
        worker.wait()


FORKS_TWICE = """
import gc
from config.celery import share_heap_with_child
share_heap_with_child()  # before the pool's first fork
frozen = gc.get_freeze_count()
in_flight = [[] for _ in range(5000)]  # what the main process makes before a replacement's fork
share_heap_with_child()
print(frozen, gc.get_freeze_count())
"""


def test_only_the_first_fork_freezes_the_heap():
    # Frozen objects are never collected: freezing again before a replacement's fork would keep, for
    # good, whatever cycles the main process's newer objects (in-flight tasks) later form.
    result = subprocess.run([sys.executable, "-c", FORKS_TWICE], cwd=REPO_ROOT / "app", env=app_env(),
                            capture_output=True, text=True, timeout=120)
    first, later = map(int, result.stdout.split()[-2:])
    assert first > 10_000, result.stderr  # the preloaded app is frozen
    assert later <= first  # none of the 5,000 new lists joined it


def test_sigterm_finishes_short_tasks_and_requeues_long_ones(broker):
    from config.celery import app

    worker, output = start_worker()
    try:
        output.wait_for("ready.")
        token = REQUEST_ID.set("upload-req-1")  # as if enqueued while serving a request
        try:
            short = app.send_task("keel_test.sleep", args=[1.5], queue=QUEUE)
        finally:
            REQUEST_ID.reset(token)
        long = app.send_task("keel_test.sleep", args=[60], queue=QUEUE)
        deadline = time.monotonic() + 30
        while output.count('"message": "sleeping"') < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()

    assert short.get(timeout=5) == 1.5  # finished during the soft shutdown
    requeued = [json.loads(raw) for raw in broker.lrange(QUEUE, 0, -1)]
    assert [message["headers"]["id"] for message in requeued] == [long.id]  # back in the queue
    assert output.count("Initiating Soft Shutdown") == 1
    assert output.count('"message": "worker: Cold shutdown (MainProcess)"') == 1  # SIGTERM remapped
    json_out = [json.loads(line) for line in output.lines if line.strip()]  # every line is JSON
    sleeping = [line for line in json_out if line["message"] == "sleeping"]
    assert {line["task_id"] for line in sleeping} == {short.id, long.id}  # task lines carry their id
    assert all(line["task_name"] == "keel_test.sleep" for line in sleeping)
    request_ids = {line["task_id"]: line["request_id"] for line in sleeping}
    assert request_ids == {short.id: "upload-req-1", long.id: None}  # the enqueuing request's id
