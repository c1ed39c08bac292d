"""Our Celery app without the preloading before the fork (config.celery.preload_before_fork), for the
bench's memory comparison only: ``celery --app bench.apps.celery_plain worker ...``."""

from celery import signals
from config.celery import app, preload_before_fork

signals.worker_init.disconnect(preload_before_fork)

__all__ = ["app"]
