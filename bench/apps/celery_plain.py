"""Our Celery app without what it does around the fork (config.celery: the preloading, the freeze and
heap release before each fork, the heap release after each task), for the bench's memory comparison
only: ``celery --app bench.apps.celery_plain worker ...``."""

from celery import signals
from config.celery import app, preload_before_fork, release_heap_after_tasks, share_heap_with_child

signals.worker_init.disconnect(preload_before_fork)
signals.worker_before_create_process.disconnect(share_heap_with_child)
signals.worker_process_init.disconnect(release_heap_after_tasks)

__all__ = ["app"]
