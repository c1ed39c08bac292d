"""Readiness: can this process reach its database, cache and broker right now?

Each check runs in its own thread and is bounded to ``CHECK_TIMEOUT`` seconds, so a
hung backing service makes the probe answer 503 promptly instead of hanging it.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from django.core.cache import caches
from django.db import connections

from config.logs import redact

CHECK_TIMEOUT = 2.0
_pool: ThreadPoolExecutor | None = None


def _executor() -> ThreadPoolExecutor:
    """This process's check threads, created on the first probe: never in gunicorn's master, whose
    threads a forked worker would not inherit (preload_app). Shared: a check that hangs past its
    bound keeps a thread until its own socket timeout."""
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=6, thread_name_prefix="readiness")
    return _pool


def _forget_executor() -> None:
    global _pool
    _pool = None


# A child forked after a probe (a test, a future hook) starts its own pool instead of queueing on
# threads that exist only in its parent.
os.register_at_fork(after_in_child=_forget_executor)


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
    connection = connections["default"]
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    finally:
        connection.close()  # this thread's connection; never reused


def check_cache() -> None:
    cache = caches["default"]
    cache.set("keel:readyz", "1", timeout=10)
    if cache.get("keel:readyz") != "1":
        raise RuntimeError("the cache did not return the value just written")


def check_broker() -> None:
    import redis
    from django.conf import settings

    client = redis.Redis.from_url(
        settings.CELERY_BROKER_URL, socket_connect_timeout=CHECK_TIMEOUT, socket_timeout=CHECK_TIMEOUT
    )
    try:
        client.ping()
    finally:
        client.close()


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
    futures = {name: _executor().submit(_timed, check) for name, check in CHECKS.items()}
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
