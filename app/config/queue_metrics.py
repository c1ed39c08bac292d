"""Celery's queue as CloudWatch metrics, published by beat every minute.

Why beat: it is already the stack's singleton (exactly one task, deployed stop-before-start), so the
metrics are published exactly once, and it never waits behind the worker's queue the way a periodic
*task* would when every worker is busy. The publishing runs inside beat's scheduler loop (a
scheduler subclass), so the heartbeat it sends also proves the loop that schedules periodic tasks is
alive: if beat hangs or stops, the heartbeat goes missing and its alarm (missing data = breaching) pages.

What is measured, from the broker's Redis (kombu's Redis transport): a queue is a list the producer
LPUSHes to and workers BRPOP from the right, plus one list per priority step (``<queue>\\x06\\x16<n>``),
so the oldest waiting message is the tail, ``LINDEX key -1``. Celery's message headers carry no enqueue
time, so ``stamp_enqueue_time`` (a before_task_publish receiver in config.celery) adds ``enqueued_at``.
Messages a worker has taken (prefetched or running) are not waiting and are not counted.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from celery.beat import PersistentScheduler

logger = logging.getLogger(__name__)

ENQUEUED_AT = "enqueued_at"  # message header: UNIX seconds when the task was published
PRIORITY_SEPARATOR = "\x06\x16"  # kombu.transport.redis.Channel.sep
PRIORITY_STEPS = (0, 3, 6, 9)  # kombu.transport.redis.PRIORITY_STEPS
INTERVAL_SECONDS = 60


def priority_keys(queue: str) -> list[str]:
    """The Redis lists holding ``queue``'s messages: the queue itself (priority 0) and each other step."""
    return [queue] + [f"{queue}{PRIORITY_SEPARATOR}{step}" for step in PRIORITY_STEPS if step]


def enqueued_at(raw: bytes | str | None) -> float | None:
    """The enqueue time stamped in a kombu Redis message (its JSON envelope's headers), if any."""
    if raw is None:
        return None
    try:
        headers = json.loads(raw).get("headers") or {}
        return float(headers[ENQUEUED_AT])
    except (ValueError, TypeError, KeyError, AttributeError):
        return None


@dataclass(frozen=True)
class QueueReading:
    queue: str
    depth: int
    oldest_age: float  # seconds; 0 when empty or when no waiting message carries a time


def read_queue(redis: Any, queue: str, now: float) -> QueueReading:
    keys = priority_keys(queue)
    pipe = redis.pipeline(transaction=False)
    for key in keys:
        pipe.llen(key)
        pipe.lindex(key, -1)
    results = pipe.execute()
    depth = sum(int(n or 0) for n in results[0::2])
    stamps = [t for t in (enqueued_at(raw) for raw in results[1::2]) if t is not None]
    return QueueReading(queue, depth, max(0.0, now - min(stamps)) if stamps and depth else 0.0)


def metric_data(readings: Iterable[QueueReading]) -> list[dict]:
    """PutMetricData's MetricData: depth and oldest age per queue, and beat's heartbeat."""
    data = [{"MetricName": "BeatHeartbeat", "Value": 1, "Unit": "Count"}]
    for reading in readings:
        dims = [{"Name": "Queue", "Value": reading.queue}]
        data.append({"MetricName": "QueueDepth", "Dimensions": dims, "Value": reading.depth, "Unit": "Count"})
        data.append({"MetricName": "OldestTaskAgeSeconds", "Dimensions": dims, "Value": round(reading.oldest_age, 3),
                     "Unit": "Seconds"})
    return data


@dataclass
class QueuePublisher:
    """Measures the queues and publishes to CloudWatch at most once per ``interval`` seconds."""

    redis: Any
    cloudwatch: Any
    namespace: str
    queues: tuple[str, ...]
    interval: float = INTERVAL_SECONDS
    clock: Callable[[], float] = time.time
    last: float | None = field(default=None)

    def publish(self) -> list[dict]:
        now = self.clock()
        data = metric_data(read_queue(self.redis, queue, now) for queue in self.queues)
        self.cloudwatch.put_metric_data(Namespace=self.namespace, MetricData=data)
        return data

    def due_in(self) -> float:
        """Publish if the interval has passed (never raising: beat must keep scheduling); seconds to the next."""
        now = self.clock()
        if self.last is None or now - self.last >= self.interval:
            self.last = now
            try:
                self.publish()
            except Exception as error:  # noqa: BLE001 - Redis or CloudWatch down: the heartbeat alarm says so
                logger.warning("queue metrics not published: %s: %s", type(error).__name__, error)
        return max(0.0, self.interval - (self.clock() - self.last))


def cloudwatch_client(region: str | None):
    import boto3
    from botocore.config import Config

    # Short timeouts: a slow CloudWatch must not hold up beat's schedule for long.
    return boto3.client("cloudwatch", region_name=region or None,
                        config=Config(connect_timeout=3, read_timeout=5, retries={"max_attempts": 2}))


class PublishingScheduler(PersistentScheduler):
    """beat's scheduler, which also publishes the queue metrics when QUEUE_METRICS_NAMESPACE is set."""

    publisher: QueuePublisher | None = None

    def setup_schedule(self) -> None:
        super().setup_schedule()
        from config.env import load_or_exit

        env = load_or_exit()
        if env["QUEUE_METRICS_NAMESPACE"]:
            connection = self.app.connection_for_read()
            queues = (self.app.conf.task_default_queue,)
            self.publisher = QueuePublisher(redis=connection.default_channel.client,
                                            cloudwatch=cloudwatch_client(env["AWS_S3_REGION_NAME"]),
                                            namespace=env["QUEUE_METRICS_NAMESPACE"], queues=queues)
            logger.info("publishing queue metrics of %s to CloudWatch namespace %s every %ss",
                        ", ".join(queues), env["QUEUE_METRICS_NAMESPACE"], INTERVAL_SECONDS)

    def tick(self, *args, **kwargs) -> float:
        interval = super().tick(*args, **kwargs)
        if self.publisher is None:
            return interval
        return min(interval, self.publisher.due_in())
