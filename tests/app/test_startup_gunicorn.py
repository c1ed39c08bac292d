"""gunicorn preloads the app in its master (``preload_app``): workers are forks, SIGHUP still works."""

from __future__ import annotations

import runpy
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from config import contract

from .helpers import REPO_ROOT, app_env, free_port, json_lines, wait_for_port


def worker_pids(master: int) -> set[int]:
    children = Path(f"/proc/{master}/task/{master}/children")
    return {int(pid) for pid in children.read_text().split()} if children.exists() else set()


def healthz(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{contract.HEALTH_PATH}", timeout=10) as response:
        return response.status


def wait_for(condition, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.1)


def test_web_preloads_the_app_and_recycles_workers_with_jitter():
    config = runpy.run_path(str(REPO_ROOT / "app" / "gunicorn.conf.py"))
    assert config["preload_app"] is True
    assert config["max_requests"] > 0 and 0 < config["max_requests_jitter"] < config["max_requests"]


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads worker pids from /proc")
def test_sighup_replaces_the_preloaded_workers_and_they_serve():
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "config.wsgi"],
        cwd=REPO_ROOT / "app", env=app_env(PORT=str(port), WEB_CONCURRENCY="2"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        wait_for_port(port, process)
        assert healthz(port) == 200
        wait_for(lambda: len(worker_pids(process.pid)) == 2)
        first = worker_pids(process.pid)

        process.send_signal(signal.SIGHUP)
        wait_for(lambda: len(worker_pids(process.pid)) == 2 and not worker_pids(process.pid) & first)
        assert healthz(port) == 200
        assert process.poll() is None  # the master lives on

        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=contract.WEB_GRACEFUL_TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()

    assert process.returncode == 0, stderr
    messages = [line["message"] for line in json_lines(stdout)]
    assert "Handling signal: hup" in messages
    assert sum(message.startswith("Booting worker with pid") for message in messages) == 4  # 2, then 2 more
