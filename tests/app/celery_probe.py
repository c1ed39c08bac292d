"""Test-only Celery tasks, loaded into a real worker with ``-I tests.app.celery_probe``."""

from __future__ import annotations

import logging
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
