"""Test-only Celery tasks, loaded into a real worker with ``-I tests.app.celery_probe``."""

from __future__ import annotations

import gc
import logging
import sys
import time

from config.celery import app

# The contract's 100 s soft shutdown is right for ECS (stopTimeout 120) and too long for a test.
app.conf.worker_soft_shutdown_timeout = 4

logger = logging.getLogger("keel.test.probe")


@app.task(name="keel_test.sleep")
def sleep(seconds: float) -> float:
    logger.info("sleeping", extra={"seconds": seconds})
    time.sleep(seconds)
    return seconds


@app.task(name="keel_test.preloaded")
def preloaded() -> dict:
    """What a pool child found already loaded when its task started (config.celery's preload)."""
    boto3_loaded = "boto3" in sys.modules
    from django.core.files.storage import default_storage

    return {"boto3_loaded": boto3_loaded,
            "s3_resource_inherited": getattr(default_storage._connections, "connection", None) is not None,
            "frozen": gc.get_freeze_count() > 0}


@app.task(name="keel_test.stubborn")
def stubborn(seconds: float) -> float:
    """Ignores the soft time limit, so only the hard one (a prefork pool kills the child) ends it."""
    from celery.exceptions import SoftTimeLimitExceeded

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            time.sleep(0.1)
        except SoftTimeLimitExceeded:
            logger.info("ignoring the soft time limit")
    return seconds
