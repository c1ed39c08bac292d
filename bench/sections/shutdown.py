"""4. Graceful shutdown: SIGTERM with slow requests in flight; SIGHUP reload under wrk load."""

from __future__ import annotations

import signal
import threading
import time

from bench import harness, wrk
from bench.targets import FORWARDED, Target

SLOW_SECONDS = 3.0


def capacity(settings: dict[str, str]) -> int:
    """Requests the server runs at once: workers x threads (the sync worker has one thread)."""
    workers = int(settings.get("workers", "1"))
    threads = int(settings.get("threads", "1")) if "sync" not in settings.get("worker_class", "sync") else 1
    return workers * max(threads, 1)


def slow_request(port: int, seconds: float, results: list, finished: list, index: int) -> None:
    reply = harness.http_get(port, f"/bench/slow?seconds={seconds}", timeout=seconds + 60, headers=FORWARDED)
    results[index] = reply.status if reply else None
    finished[index] = time.monotonic()


def sigterm_drill(target: Target, in_flight: int) -> dict:
    """N slow requests, SIGTERM once they all run: every one must get its 200."""
    proc = target.start("shutdown-sigterm")
    try:
        if harness.wait_http_200(target.port, "/healthz", 60, proc) is None:
            raise RuntimeError(f"web did not start; see {proc.log}")
        statuses: list[int | None] = [None] * in_flight
        finished: list[float | None] = [None] * in_flight
        threads = [threading.Thread(target=slow_request, args=(target.port, SLOW_SECONDS, statuses, finished, i))
                   for i in range(in_flight)]
        for thread in threads:
            thread.start()
        time.sleep(1.0)  # every request accepted and sleeping in a worker
        sent = time.monotonic()
        proc.send(signal.SIGTERM)
        exited = proc.wait_exit(timeout=90)
        exit_at = time.monotonic()
        for thread in threads:
            thread.join(timeout=70)
        last_response = max((t for t in finished if t is not None), default=None)
        return {
            "in_flight": in_flight,
            "request_seconds": SLOW_SECONDS,
            "statuses": statuses,
            "completed_200": sum(1 for s in statuses if s == 200),
            "failed": sum(1 for s in statuses if s != 200),
            "master_exit_s": exited,
            # A gthread worker accepts more connections than it has threads and queues them, so
            # the last responses can come a request-length later than the first.
            "last_response_after_sigterm_s": None if last_response is None else last_response - sent,
            "master_exit_after_last_response_s": None if exited is None or last_response is None
            else exit_at - last_response,
        }
    finally:
        proc.stop()


def sighup_drill(target: Target, seconds: float, workers: int) -> dict:
    """wrk on /healthz while the master gets SIGHUP: zero failed requests, workers replaced."""
    proc = target.start("shutdown-sighup")
    try:
        if harness.wait_http_200(target.port, "/healthz", 60, proc) is None:
            raise RuntimeError(f"web did not start; see {proc.log}")
        harness.wait_until(lambda: len(harness.children(proc.pid)) >= workers, timeout=30, interval=0.05)
        before = sorted(harness.children(proc.pid))
        load = wrk.start(target.url("/healthz"), seconds)
        time.sleep(seconds / 3)
        proc.send(signal.SIGHUP)
        hup_sent = time.monotonic()
        result, _ = wrk.finish(load, timeout=seconds + 60)
        # Replaced: none of the old workers is left (max_requests may have recycled some already).
        replaced = harness.wait_until(lambda: not set(before) & set(harness.children(proc.pid)),
                                      timeout=45, interval=0.1)
        after = sorted(harness.children(proc.pid))
        return {
            "seconds": seconds, **result.as_dict(),
            "workers_before": before, "workers_after": after,
            "workers_replaced": replaced is not None,
            "old_workers_gone_after_hup_s": None if replaced is None else time.monotonic() - hup_sent,
            "master_alive": proc.alive(),
        }
    finally:
        proc.stop()


def run(slow_target: Target, plain_target: Target, wrk_seconds: float) -> dict:
    settings = plain_target.gunicorn_settings()
    keys = ("workers", "worker_class", "threads", "graceful_timeout", "timeout", "keepalive", "preload_app")
    n = capacity(settings)
    return {
        "gunicorn": {k: settings.get(k) for k in keys},
        "sigterm": sigterm_drill(slow_target, n),
        "sighup": sighup_drill(plain_target, wrk_seconds, int(settings.get("workers", "1"))),
    }
