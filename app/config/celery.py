"""The Celery app of the worker and beat processes (``celery --app config.celery ...``).

Configured from Django settings (``CELERY_*``), tasks autodiscovered from installed apps,
and the beat schedule defined here, in code, so every deploy carries it.
"""

from __future__ import annotations

import codecs
import gc
import importlib
import logging.config
import os
import time

from celery import Celery, signals
from kombu.utils.objects import cached_property

from config.env import load_or_exit
from config.logs import REQUEST_ID, signal_safe_json_say
from config.memory import release_free_heap

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


def _remap_sigterm_to_sigquit() -> None:
    """SIGTERM starts Celery's soft shutdown (running tasks get WORKER_SOFT_SHUTDOWN_TIMEOUT, then
    unacknowledged ones go back to the queue) instead of a warm shutdown that waits forever.

    billiard reads REMAP_SIGTERM once, when ``billiard.common`` is imported, and the celery CLI
    imports it before loading this module; celery.apps.worker and celery.concurrency.prefork copy
    the value when the worker command imports them, after this. So set the variable (also for the
    pool's child processes) and re-read billiard's constants if they were computed without it.
    """
    os.environ["REMAP_SIGTERM"] = "SIGQUIT"
    import billiard.common

    if billiard.common.REMAP_SIGTERM != "SIGQUIT":
        importlib.reload(billiard.common)


# Validate before anything connects: a bad environment exits 78 with one line per problem.
ENV = load_or_exit()
_remap_sigterm_to_sigquit()
# After the remap: it imports celery.beat, which must not settle billiard's signal constants first.
from config.queue_metrics import ENQUEUED_AT  # noqa: E402


class _QuietInJson:
    """No ASCII-art banner on stdout when logs are JSON: every stdout line stays one JSON object
    (the worker and beat log their start and readiness through logging anyway)."""

    def __init__(self, *args, quiet: bool = False, **kwargs):
        super().__init__(*args, quiet=quiet or ENV["LOG_FORMAT"] == "json", **kwargs)


class KeelCelery(Celery):
    # Imported here, not at the top: celery.apps.worker copies REMAP_SIGTERM when first imported.
    @cached_property
    def Worker(self):
        from celery.apps import worker

        if ENV["LOG_FORMAT"] == "json":
            # The shutdown messages Celery writes from its signal handlers become JSON lines too.
            worker.safe_say = signal_safe_json_say
        return self.subclass_with_self(type("Worker", (_QuietInJson, worker.Worker), {}))

    @cached_property
    def Beat(self):
        from celery.apps.beat import Beat

        return self.subclass_with_self(type("Beat", (_QuietInJson, Beat), {}))


app = KeelCelery("keel")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# beat's scheduler publishes the queue metrics too (config.queue_metrics: why beat).
app.conf.beat_scheduler = "config.queue_metrics:PublishingScheduler"
app.conf.beat_schedule = {
    "purge-expired-documents": {
        "task": "documents.tasks.purge_expired_documents",
        "schedule": float(ENV["DOCUMENT_PURGE_INTERVAL"]),
    },
}


@signals.setup_logging.connect
def use_django_logging(**kwargs) -> None:
    """Connecting this signal stops Celery from configuring logging itself: Django's JSON config
    (root handler on stdout) serves the worker and beat as well."""
    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)


@signals.worker_init.connect
def preload_before_fork(**kwargs) -> None:
    """What every document task needs, loaded once in the worker's main process before the prefork
    pool forks its children, which then share it instead of each loading its own copy: boto3 and
    the media storage's S3 resource with its client and service models (about 25 MiB per child),
    and the idna codec the first request encodes the host name with. No connection to S3 is opened
    here (boto3 connects on a child's first request); on ECS the client fetches the task role's
    credentials here, once, and each child refreshes its copy as they near expiry. The pool stays
    prefork, so hard time limits still kill a stuck child."""
    from django.core.files.storage import default_storage

    connection = getattr(default_storage, "connection", None)  # S3 storage only; the filesystem has none
    if connection is not None:
        connection.meta.client  # noqa: B018 - the client (and its models) is built on first access
    codecs.lookup("idna")


@signals.worker_before_create_process.connect
def share_heap_with_child(**kwargs) -> None:
    """Just before each fork (the pool's first children and every replacement), the free heap goes
    back to the system rather than into every child (config.memory). Before the first fork only,
    ``gc.freeze()``: a collection in a child no longer writes to, and so copies, the shared pages.
    Not again at a replacement's fork: frozen objects are never collected, so whatever reference
    cycles the main process's in-flight objects formed later would be kept for good."""
    if not gc.get_freeze_count():
        gc.collect()
        gc.freeze()
    release_free_heap()


@signals.worker_process_init.connect
def release_heap_after_tasks(**kwargs) -> None:
    """In each pool child: after every task, the heap it freed goes back to the system (the buffers
    of a document's read would otherwise stay resident in every child; about 1 ms when there is
    something to return, microseconds when not)."""
    signals.task_postrun.connect(_release_free_heap_after_task, weak=False)


def _release_free_heap_after_task(**kwargs) -> None:
    release_free_heap()


@signals.before_task_publish.connect
def carry_request_id(headers=None, **kwargs) -> None:
    """A task enqueued while serving a request carries that request's id in its message headers."""
    request_id = REQUEST_ID.get()
    if request_id and headers is not None:
        headers.setdefault("request_id", request_id)


@signals.before_task_publish.connect
def stamp_enqueue_time(headers=None, **kwargs) -> None:
    """The publish time in the message headers: beat reads it on the queue's oldest message to publish how
    long tasks wait (config.queue_metrics). A retried task gets the time of its new message."""
    if headers is not None:
        headers[ENQUEUED_AT] = time.time()


@signals.task_prerun.connect
def adopt_request_id(task=None, **kwargs) -> None:
    """The worker's log lines for that task then show the id of the request that caused it."""
    REQUEST_ID.set(getattr(task.request, "request_id", None) if task is not None else None)


@signals.task_postrun.connect
def drop_request_id(**kwargs) -> None:
    REQUEST_ID.set(None)
