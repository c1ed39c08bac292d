"""6. Outages: stop the private Redis, then the private Postgres, under a running web and worker.

/healthz must stay 200 throughout; /readyz must turn 503 naming the failed service within
2 s, and return to 200 within 5 s of the service coming back, with no process restarted.
"""

from __future__ import annotations

import json
import time

from bench import harness, ourapp, targets
from bench.targets import Target

OUTAGE_SECONDS = 3.0
DETECT_LIMIT = 2.0
RECOVER_LIMIT = 5.0
NAMES = {"redis": ("cache", "broker", "redis"), "postgres": ("database", "postgres", "psycopg")}


def readyz(port: int) -> tuple[int | None, dict]:
    reply = harness.http_get(port, "/readyz", timeout=5)
    if reply is None:
        return None, {}
    try:
        return reply.status, json.loads(reply.body)
    except ValueError:
        return reply.status, {"raw": reply.text()[:200]}


def names_service(body: dict, service: str) -> bool:
    """True when the readiness report points at ``service`` (its failing checks or error text)."""
    text = json.dumps(body).lower()
    failing = [str(name).lower() for name in body.get("failing", [])]
    return any(word in failing or word in text for word in NAMES[service]) and bool(failing)


def process_ids(web: harness.Proc, worker: harness.Proc) -> dict[str, list[int]]:
    return {"web_master": [web.pid], "web_workers": sorted(harness.children(web.pid)),
            "worker_main": [worker.pid], "worker_pool": sorted(harness.children(worker.pid))}


def outage(service: str, stop, start, port: int) -> dict:
    """Stop a service, watch the probes through the outage, start it again, watch recovery."""
    health_failures = 0
    health_checks = 0
    stopped = time.monotonic()
    stop()
    detected = None
    detected_body: dict = {}
    while time.monotonic() - stopped < max(OUTAGE_SECONDS, DETECT_LIMIT + 1):
        health = harness.http_get(port, "/healthz", timeout=5)
        health_checks += 1
        health_failures += health is None or health.status != 200
        if detected is None:
            status, body = readyz(port)
            if status == 503 and names_service(body, service):
                detected, detected_body = time.monotonic() - stopped, body
        time.sleep(0.05)
    restarted = time.monotonic()
    start()
    started_after = time.monotonic() - restarted
    recovered = harness.wait_until(lambda: readyz(port)[0] == 200, 30, 0.05)
    return {
        "detect_503_s": detected,
        "readyz_body": detected_body,
        "healthz_checks": health_checks,
        "healthz_failures": health_failures,
        "service_start_s": started_after,
        "recover_200_s": None if recovered is None else recovered + started_after,
        "recover_after_service_up_s": recovered,
    }


def run(web_target: Target, environment: dict[str, str], redis, postgres, database_url: str) -> dict:
    from bench.sections import tasks

    web = web_target.start("outage-web")
    worker = harness.start("outage-worker", ourapp.worker_argv(), env=environment, cwd=targets.APP)
    try:
        if harness.wait_http_200(web_target.port, "/readyz", 60, web) is None:
            raise RuntimeError(f"web not ready before the outage drill; see {web.log}")
        time.sleep(2)  # the worker connects to the broker
        before = process_ids(web, worker)
        result = {
            "redis": outage("redis", redis.stop, redis.start, web_target.port),
            "postgres": outage("postgres", postgres.stop, postgres.start, web_target.port),
        }
        after = process_ids(web, worker)
        result["processes_before"] = before
        result["processes_after"] = after
        result["no_process_restarted"] = before == after and web.alive() and worker.alive()
        queued_at = time.monotonic()
        queued = tasks.queue_documents(environment, "after-outage", 1)
        done = harness.wait_until(lambda: tasks.processed_count(database_url, queued["documents"]) == 1, 60, 0.1)
        # From starting the enqueueing command (a manage.py shell) to the document being processed.
        result["task_after_recovery_s"] = None if done is None else time.monotonic() - queued_at
        return result
    finally:
        web.stop()
        worker.stop()
