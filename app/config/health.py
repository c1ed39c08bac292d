"""Readiness: can this process reach its database, cache and broker right now?

Each check runs in its own thread and is bounded to ``CHECK_TIMEOUT`` seconds, so a
hung backing service makes the probe answer 503 promptly instead of hanging it.

/readyz is public (the load balancer probes it), so a flood of probes must cost nothing:
``cached_readiness`` runs the checks at most once per ``REPORT_SECONDS`` per process (concurrent
probes wait for the one run in flight), and the checks reuse their connections: the database
check keeps one Django connection in its own thread, the cache uses Django's pooled client, the
broker check one pooled client per process. 100 probes open one database connection, not 100.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from django.core.cache import caches
from django.db import connections

from config.logs import redact

logger = logging.getLogger(__name__)

CHECK_TIMEOUT = 2.0
# How long one run of the checks answers every probe of this process. The load balancer probes
# every 10-30 s, so it always sees a fresh run; a flood sees the same one.
REPORT_SECONDS = 2.0
_pools: dict[str, ThreadPoolExecutor] = {}
_broker_clients: dict[str, object] = {}
_report_lock = threading.Lock()
_last_report: tuple[float, dict] | None = None


def _executor(name: str) -> ThreadPoolExecutor:
    """The check's own thread, created on the first probe: never in gunicorn's master, whose threads
    a forked worker would not inherit (preload_app). One thread per check, so the database check
    always runs where its connection lives; a check that hangs past its bound makes the next run of
    the same check wait behind it, and so report the hang again."""
    if name not in _pools:
        _pools[name] = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"readiness-{name}")
    return _pools[name]


def _forget_process_state() -> None:
    global _report_lock, _last_report
    _pools.clear()
    _broker_clients.clear()
    _report_lock, _last_report = threading.Lock(), None


# A child forked after a probe (a test, a future hook) starts its own threads, clients and report
# instead of queueing on threads that exist only in its parent.
os.register_at_fork(after_in_child=_forget_process_state)


def _import_clients() -> None:
    """Load the Redis client before the bounded checks start: a cold ``import redis`` takes 1-2 s on
    a busy host, which inside a check would fail the first probe. Not at module level, so start-up
    and /healthz never pay for it; only the first /readyz of each process does, in its own thread."""
    import redis  # noqa: F401


def _prepare_database() -> None:
    """With DATABASE_SECRET_ARN the first connection imports boto3 (a second or more when cold):
    done here, outside the 2 s bound, so the check reports the database, not the import."""
    arn = connections["default"].settings_dict.get("PASSWORD_SECRET_ARN")
    if arn:
        from config.postgres.password import prepare

        prepare(arn)


def check_database() -> None:
    """SELECT 1 on this thread's connection, kept open between probes (the thread is the check's
    own); a failed one is closed so the next probe connects afresh."""
    connection = connections["default"]
    reused = connection.connection is not None
    try:
        _select_one(connection)
    except Exception:
        connection.close()
        if not reused:
            raise
        # The database dropped the kept connection since the last probe (a restart, a failover):
        # that says nothing about now, so once more on a fresh one.
        try:
            _select_one(connection)
        except Exception:
            connection.close()
            raise


def _select_one(connection) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def close_check_connections() -> None:
    """Close the database check's kept connection (in its own thread, where it lives)."""
    if "database" in _pools:
        _pools["database"].submit(connections.close_all).result(timeout=CHECK_TIMEOUT)


def check_cache() -> None:
    cache = caches["default"]
    cache.set("keel:readyz", "1", timeout=10)
    if cache.get("keel:readyz") != "1":
        raise RuntimeError("the cache did not return the value just written")


def check_broker() -> None:
    import redis
    from django.conf import settings

    url = settings.CELERY_BROKER_URL
    if url not in _broker_clients:  # a pooled client per URL, reused by every probe
        _broker_clients[url] = redis.Redis.from_url(url, socket_connect_timeout=CHECK_TIMEOUT,
                                                    socket_timeout=CHECK_TIMEOUT)
    _broker_clients[url].ping()


CHECKS = {"database": check_database, "cache": check_cache, "broker": check_broker}


def _timed(check) -> float:
    started = time.perf_counter()
    check()
    return time.perf_counter() - started


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return redact(f"{type(exc).__name__}: {text}" if text else type(exc).__name__)


def readiness() -> dict:
    """{"status": "ok"|"unavailable", "checks": {name: {"ok", "ms", "error"?}}, "failing": [...]}."""
    _prepare_database()
    _import_clients()
    started = time.perf_counter()
    futures = {name: _executor(name).submit(_timed, check) for name, check in CHECKS.items()}
    results = {}
    for name, future in futures.items():
        remaining = max(0.0, CHECK_TIMEOUT - (time.perf_counter() - started))
        try:
            results[name] = {"ok": True, "ms": round(future.result(timeout=remaining) * 1000, 1)}
        except FutureTimeout:
            results[name] = {"ok": False, "ms": round(CHECK_TIMEOUT * 1000, 1),
                             "error": f"no answer within {CHECK_TIMEOUT:g} s"}
        except Exception as exc:  # noqa: BLE001 - any failure means not ready; the error is reported
            results[name] = {"ok": False, "ms": round((time.perf_counter() - started) * 1000, 1),
                             "error": _describe(exc)}
    failing = [name for name, result in results.items() if not result["ok"]]
    return {"status": "unavailable" if failing else "ok", "checks": results, "failing": failing}


def cached_readiness() -> dict:
    """readiness(), run at most once per REPORT_SECONDS in this process; failures are logged with
    their errors once per run (the public answer may leave them out, see public_view)."""
    global _last_report
    with _report_lock:
        if _last_report is not None and time.monotonic() - _last_report[0] < REPORT_SECONDS:
            return _last_report[1]
        report = readiness()
        _last_report = (time.monotonic(), report)
    if report["failing"]:
        errors = {name: report["checks"][name].get("error") for name in report["failing"]}
        logger.warning("not ready: %s", ", ".join(f"{name}: {error}" for name, error in errors.items()),
                       extra={"failing": report["failing"]})
    return report


def forget_cached_report() -> None:
    """The next probe runs the checks (tests that change a backing service in between)."""
    global _last_report
    _last_report = None


def public_view(report: dict) -> dict:
    """The report without error texts (hostnames, driver messages): component names, ok, timings."""
    checks = {name: {key: value for key, value in check.items() if key != "error"}
              for name, check in report["checks"].items()}
    return {**report, "checks": checks}
