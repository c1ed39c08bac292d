"""The web process as ECS runs it: gunicorn with the production gunicorn.conf.py."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request

import pytest
from config import contract

from .helpers import REPO_ROOT, app_env, free_port, json_lines, wait_for_port


@pytest.fixture
def gunicorn(request):
    port = free_port()
    env = app_env(PORT=str(port), WEB_CONCURRENCY="1", **getattr(request, "param", {}))
    env["PYTHONPATH"] += f":{REPO_ROOT}"
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "tests.app.slow_wsgi:application"],
        cwd=REPO_ROOT / "app", env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        wait_for_port(port, process)
        yield process, port
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def get(port: int, path: str, headers: dict | None = None, timeout: float = 30):
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers or {})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.status, dict(response.headers), response.read()


def test_sigterm_lets_the_in_flight_request_finish_then_the_master_exits(gunicorn):
    process, port = gunicorn
    assert get(port, contract.HEALTH_PATH)[0] == 200  # the worker is up
    result = {}
    slow = threading.Thread(target=lambda: result.update(zip(("status", "headers", "body"), get(port, "/test-slow"), strict=True)))
    slow.start()
    time.sleep(1.0)  # the slow request is now in flight

    process.send_signal(signal.SIGTERM)
    slow.join(timeout=contract.WEB_GRACEFUL_TIMEOUT)
    stdout, stderr = process.communicate(timeout=contract.WEB_GRACEFUL_TIMEOUT)

    assert result["status"] == 200 and result["body"] == b"finished after SIGTERM"
    assert process.returncode == 0
    lines = json_lines(stdout)  # every line gunicorn and Django wrote is one JSON object
    messages = [line["message"] for line in lines]
    assert "Handling signal: term" in messages
    assert "Shutting down: Master" in messages
    assert stderr.strip() == ""


def test_access_log_is_json_with_the_request_id_echoed(gunicorn):
    process, port = gunicorn
    status, headers, _ = get(port, contract.READY_PATH, {"X-Request-ID": "user-42", "Host": "10.0.1.23",
                                                         "X-Forwarded-For": "10.9.9.9, 203.0.113.9"})
    assert status == 200 and headers["X-Request-ID"] == "user-42"
    process.send_signal(signal.SIGTERM)
    stdout, _ = process.communicate(timeout=contract.WEB_GRACEFUL_TIMEOUT)

    access = [line for line in json_lines(stdout) if line["logger"] == "gunicorn.access"]
    assert len(access) == 1  # exactly one request was served
    entry = access[0]
    assert entry["client_request_id"] == "user-42" and len(entry["request_id"]) == 32  # beside our own
    assert entry["remote_addr"] == "203.0.113.9"  # what the load balancer appended, not the client's claim
    assert (entry["method"], entry["path"], entry["status"]) == ("GET", contract.READY_PATH, 200)
    assert {"timestamp", "level", "logger", "message", "duration_ms"} <= set(entry)


@pytest.mark.parametrize("gunicorn", [{"LOG_LEVEL": "WARNING"}], indirect=True)
def test_log_level_warning_drops_the_access_lines(gunicorn):
    process, port = gunicorn
    assert get(port, contract.READY_PATH, {"Host": "10.0.1.23"})[0] == 200
    process.send_signal(signal.SIGTERM)
    stdout, _ = process.communicate(timeout=contract.WEB_GRACEFUL_TIMEOUT)

    assert [line for line in json_lines(stdout) if line["logger"] == "gunicorn.access"] == []
    assert all(line["level"] != "INFO" for line in json_lines(stdout))


def test_successful_probes_get_no_access_line_but_are_counted(gunicorn):
    process, port = gunicorn
    for _ in range(3):
        status, headers, _ = get(port, contract.HEALTH_PATH, {"X-Request-ID": "probe-42", "Host": "10.0.1.23"})
        assert status == 200 and headers["X-Request-ID"] == "probe-42"
    get(port, contract.READY_PATH, {"Host": "10.0.1.23"})
    process.send_signal(signal.SIGTERM)
    stdout, _ = process.communicate(timeout=contract.WEB_GRACEFUL_TIMEOUT)

    access = [line for line in json_lines(stdout) if line["logger"] == "gunicorn.access"]
    assert [line["path"] for line in access if "probes" not in line] == [contract.READY_PATH]
    # The exiting worker reports the probes no summary line has counted yet.
    [summary] = [line for line in access if "probes" in line]
    assert (summary["probes"], summary["path"], summary["status"]) == (3, contract.HEALTH_PATH, 200)


def test_gunicorn_settings_come_from_the_contract_and_environment():
    import runpy

    config = runpy.run_path(str(REPO_ROOT / "app" / "gunicorn.conf.py"))
    assert config["bind"].startswith("0.0.0.0:")
    assert config["keepalive"] == contract.WEB_KEEPALIVE > 60  # above the load balancer's idle timeout
    assert config["graceful_timeout"] == contract.WEB_GRACEFUL_TIMEOUT
    from gunicorn.workers.gthread import ThreadWorker

    assert issubclass(config["worker_class"], ThreadWorker)  # the sync worker ignores keepalive
    assert config["worker_tmp_dir"] == "/dev/shm"
    assert config["max_requests"] > 0 and config["max_requests_jitter"] > 0
    assert config["control_socket_disable"] is True


def test_loading_the_app_installs_no_signal_handler():
    """gunicorn's (and Celery's) own handlers must stay in charge of SIGTERM and friends."""
    script = (
        "import signal, json\n"
        "names = ('SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGHUP', 'SIGUSR1')\n"
        "before = [str(signal.getsignal(getattr(signal, n))) for n in names]\n"
        "import config.wsgi\n"
        "after = [str(signal.getsignal(getattr(signal, n))) for n in names]\n"
        "print(json.dumps([before, after]))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT / "app", env=app_env(),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    before, after = json.loads(result.stdout.splitlines()[-1])
    assert after == before


def test_a_kept_alive_connection_is_closed_after_its_request_quota(gunicorn):
    """So that connections a recycled worker dropped spread again over the workers (gunicorn.conf.py)."""
    import http.client
    import runpy

    quota = runpy.run_path(str(REPO_ROOT / "app" / "gunicorn.conf.py"))["KEEPALIVE_REQUESTS"]
    _, port = gunicorn
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        answers = []
        for _ in range(quota):
            conn.request("GET", contract.HEALTH_PATH)
            response = conn.getresponse()
            response.read()
            answers.append(response.getheader("Connection"))
    finally:
        conn.close()
    assert set(answers[:-1]) == {"keep-alive"} and answers[-1] == "close"


def connections_per_worker(master: int, port: int) -> list[int]:
    """Established client connections each worker holds, from its own sockets (/proc)."""
    from pathlib import Path

    established = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "01" and int(fields[1].rsplit(":", 1)[1], 16) == port:
            established.add(f"socket:[{fields[9]}]")
    held = []
    for pid in worker_pids(master):
        fds = Path(f"/proc/{pid}/fd")
        held.append(sum(1 for fd in fds.iterdir() if _readlink(fd) in established))
    return sorted(held)


def worker_pids(master: int) -> list[int]:
    from pathlib import Path

    return [int(pid) for task in Path(f"/proc/{master}/task").iterdir() for pid in (task / "children").read_text().split()]


def _readlink(path) -> str:
    import os

    try:
        return os.readlink(path)
    except OSError:
        return ""


def test_workers_share_kept_alive_connections_also_after_one_is_replaced():
    """Least connections (config/gunicorn_balance.py): new connections go to the emptier worker, and
    after a worker is replaced the survivor sheds its surplus with "Connection: close"."""
    import http.client

    port = free_port()
    env = app_env(PORT=str(port), WEB_CONCURRENCY="2")
    process = subprocess.Popen([sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "config.wsgi"],
                               cwd=REPO_ROOT / "app", env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    clients: list[http.client.HTTPConnection] = []

    def ask(conn: http.client.HTTPConnection) -> str:
        try:
            conn.request("GET", contract.HEALTH_PATH)
            response = conn.getresponse()
        except (OSError, http.client.HTTPException):  # closed by the stopping worker: reopen, as a balancer does
            conn.close()
            conn.request("GET", contract.HEALTH_PATH)
            response = conn.getresponse()
        response.read()
        return response.getheader("Connection")

    def settle(expected: list[int]) -> list[int]:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            for conn in clients:  # a closed connection reopens, as a load balancer's would
                if ask(conn) == "close":
                    conn.close()
            held = connections_per_worker(process.pid, port)
            if held == expected:
                return held
            time.sleep(0.1)
        return held

    try:
        wait_for_port(port, process)
        assert harness_wait(lambda: len(connections_per_worker(process.pid, port)) == 2)
        for _ in range(8):
            clients.append(http.client.HTTPConnection("127.0.0.1", port, timeout=10))
            ask(clients[-1])
        assert settle([4, 4]) == [4, 4]

        os.kill(worker_pids(process.pid)[0], signal.SIGTERM)  # as a recycle does: its connections reconnect to the survivor
        assert settle([4, 4]) == [4, 4]
    finally:
        for conn in clients:
            conn.close()
        process.terminate()
        process.wait(timeout=contract.WEB_GRACEFUL_TIMEOUT)


def harness_wait(predicate, timeout: float = 20) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False
