"""Slow request bodies against the real web process (gunicorn with the production config).

The attack of issue 14: connections that send ``POST /accounts/login/`` with a large declared
body, then 2 bytes a second. Plain gthread gave each one a thread until all were held and the
load balancer's /healthz probe timed out; the buffering worker (config/gunicorn_worker.py) keeps
them in its event loop and cuts them off under its minimum rate.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from config import contract

from bench.sections.slow_senders import send_slowly

from .helpers import APP_DIR, app_env, free_port, wait_for_port


def start_web(tmp_path: Path, **limits: float) -> tuple[subprocess.Popen, int]:
    """gunicorn with app/gunicorn.conf.py; ``limits`` shorten the worker's timing constants so a
    test sees a cut-off in seconds (the shipped values are asserted separately)."""
    config = tmp_path / "gunicorn_test.conf.py"
    patch = "".join(f"gunicorn_worker.{name} = {value!r}\n" for name, value in limits.items())
    config.write_text(
        f"exec(compile(open({str(APP_DIR / 'gunicorn.conf.py')!r}).read(), 'gunicorn.conf.py', 'exec'))\n"
        f"from config import gunicorn_worker\n{patch}"
    )
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--config", str(config), "config.wsgi"],
        cwd=APP_DIR, env=app_env(PORT=str(port), WEB_CONCURRENCY="1"),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    wait_for_port(port, process)
    return process, port


@pytest.fixture
def web(tmp_path):
    started: list[subprocess.Popen] = []

    def start(**limits: float) -> int:
        process, port = start_web(tmp_path, **limits)
        started.append(process)
        return port

    yield start
    for process in started:
        process.kill()
        process.communicate()


class SlowSender(threading.Thread):
    """A sign-in POST whose body comes 2 bytes a second (bench's send_slowly); records how it ended."""

    def __init__(self, port: int, seconds: float) -> None:
        super().__init__(daemon=True)
        self.port, self.seconds = port, seconds
        self.answer = b""
        self.cut_off_after: float | None = None

    def run(self) -> None:
        self.cut_off_after, self.answer = send_slowly(self.port, self.seconds, host="testserver")


def read_response(sock: socket.socket) -> bytes:
    """One whole HTTP response (headers and Content-Length body) from ``sock``."""
    answer = b""
    while b"\r\n\r\n" not in answer or len(answer) < answer.index(b"\r\n\r\n") + 4 + int(
            re.search(rb"(?i)content-length: *(\d+)", answer).group(1)):
        chunk = sock.recv(65536)
        if not chunk:
            break
        answer += chunk
    return answer


def healthz_seconds(port: int) -> float:
    started = time.monotonic()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", contract.HEALTH_PATH, headers={"Host": "10.0.1.23"})
        assert connection.getresponse().status == 200
    finally:
        connection.close()
    return time.monotonic() - started


def test_eight_slow_senders_leave_healthz_answering_within_a_second(web):
    port = web()
    senders = [SlowSender(port, seconds=6) for _ in range(8)]
    for sender in senders:
        sender.start()
    time.sleep(1.0)  # every sender has sent its headers and is trickling its body

    timings = []
    for _ in range(4):
        timings.append(healthz_seconds(port))
        time.sleep(0.5)

    assert max(timings) < 1.0, timings
    assert all(sender.is_alive() for sender in senders)  # still sending: the probe did not wait for them


def test_a_sender_under_the_minimum_rate_is_cut_off_with_408(web):
    port = web(BODY_GRACE=1.0)
    sender = SlowSender(port, seconds=10)
    sender.start()
    sender.join(timeout=12)

    assert sender.cut_off_after is not None and sender.cut_off_after < 5
    assert sender.answer.startswith(b"HTTP/1.1 408 ")
    assert b'"status": 408' in sender.answer and b"bytes/s" in sender.answer


def test_a_request_whose_body_arrives_late_but_whole_is_served(web):
    """An honest client pausing between headers and body (a phone, curl's Expect: 100-continue)."""
    port = web()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        body = b"username=alice&password=wrong"
        sock.sendall(
            b"POST /api/documents/ HTTP/1.1\r\nHost: testserver\r\nX-Forwarded-Proto: https\r\n"
            b"Expect: 100-continue\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n"
        )
        assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        time.sleep(1.5)
        sock.sendall(body)
        answer = read_response(sock)
    assert answer.startswith(b"HTTP/1.1 401 ")  # the app read it: the API's own JSON answer
    assert b"authentication required" in answer


def test_a_declared_body_over_the_limit_is_refused_before_it_is_read(web):
    port = web()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"POST /api/documents/ HTTP/1.1\r\nHost: testserver\r\nContent-Length: 999999999\r\n\r\n")
        answer = read_response(sock)
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b'"status": 413' in answer


def test_shipped_limits_let_a_10_mb_phone_upload_through():
    from config import gunicorn_worker as worker

    ten_mb, phone_rate = 10 * 1024 * 1024, 100_000 / 8  # a poor 2G/EDGE uplink, 100 kbit/s
    assert worker.MIN_BODY_RATE * 3 <= phone_rate
    assert worker.BODY_GRACE >= 10 and worker.HEADER_SECONDS >= 10
    assert ten_mb + contract.REQUEST_ENVELOPE_BYTES <= worker.MAX_BUFFERED_BYTES


def test_a_request_gunicorn_cannot_parse_gets_the_json_error_shape(web):
    port = web()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET /api/documents/ HTTP/1.1\r\nHost: testserver\r\nNo colon here\r\n\r\n")
        answer = read_response(sock)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ") and b"Content-Type: application/json" in head
    parsed = json.loads(body)
    assert parsed["status"] == 400 and set(parsed) == {"error", "status"}
