"""CloudWatch alarms for a stack: every signal that needs a human, each with a one-line runbook.

Thresholds come from the stack config (keel:alarmThresholds, presets in stack_config.ALARM_PRESETS);
every alarm publishes ALARM and OK to the stack's topic (components/notifications.py).

Where a fixed threshold would page at night for nothing, the alarm is shaped instead:
* 5xx rates and p99 latency are metric math that reads 0 below ``min_requests`` per 5 minutes: three
  slow or failed requests out of five at 3 a.m. are not an incident (IF(requests >= N, rate, 0)).
* web/worker CPU and the queue depth are normal reasons to *scale*; with autoscaling they page only as a
  composite alarm: high AND the service already runs ``maxCount`` tasks (RunningTaskCount, Container
  Insights). Their child alarms have no actions.
* No anomaly detection: its band needs two weeks of history, a new or rarely used stack has none, and a
  deploy shifts it; fixed thresholds gated on traffic are predictable and testable.
beat's heartbeat (published by beat itself every minute, app/config/queue_metrics.py) treats missing data
as breaching: silence is the failure. Replica lag: a Multi-AZ *instance* deployment has a synchronous,
unreadable standby and publishes no ReplicaLag (that metric exists for read replicas and Multi-AZ DB
clusters only), so failovers are reported as RDS events instead (components/events.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from keel.components import PACKAGE, child
from keel.stack_config import AlarmThresholds

PERIOD = 60
GIB = 1024 ** 3
MIB = 1024 ** 2
ABOVE, BELOW = "GreaterThanOrEqualToThreshold", "LessThanThreshold"


@dataclass
class AlarmSpec:
    """One alarm: plain values (pulumi inputs allowed in dimensions), easy to assert on."""

    key: str  # short name, the alarm is "<prefix>-<key>"
    runbook: str  # the alarm description: what it means and what to do first
    threshold: float
    comparison: str = ABOVE
    metric: dict[str, Any] | None = None  # {namespace, metric_name, dimensions, statistic|extended_statistic}
    queries: list[dict[str, Any]] | None = None  # metric math: [{id, expression|metric, return_data}]
    periods: int = 5
    datapoints: int | None = None
    period: int = PERIOD
    missing: str = "notBreaching"
    actions: bool = True  # False: a child of a composite alarm


@dataclass
class AlarmsArgs:
    prefix: str  # alarm names start with it
    topic_arn: pulumi.Input[str]
    thresholds: AlarmThresholds
    metrics_namespace: str  # the stack's own metrics: queue, heartbeat, log lines
    cluster_name: pulumi.Input[str]
    service_names: dict[str, pulumi.Input[str]]  # web, worker, beat
    max_counts: dict[str, int | None]  # process -> maxCount when it autoscales, else None
    load_balancer: pulumi.Input[str] | None = None  # ALB arn suffix app/<name>/<id>
    target_group: pulumi.Input[str] | None = None  # target group arn suffix
    database: str | None = None  # RDS instance identifier, when the stack creates it
    cache_nodes: tuple[str, ...] = ()  # ElastiCache cache cluster ids (<group>-001, ...)
    queues: tuple[str, ...] = ()  # Celery queues published by beat (empty: no queue metrics)
    log_processes: tuple[str, ...] = ()  # processes with an ErrorLines-<process> log metric
    beat_runs: bool = True  # False in full maintenance (beat stopped on purpose): no heartbeat alarm
    tags: dict[str, str] = field(default_factory=dict)


def _metric(namespace: str, name: str, dimensions: dict, stat: str = "Average") -> dict:
    key = "extended_statistic" if stat.startswith("p") else "statistic"
    return {"namespace": namespace, "metric_name": name, "dimensions": dimensions, key: stat}


def _stat(id_: str, namespace: str, name: str, dimensions: dict, stat: str, period: int = 300) -> dict:
    return {"id": id_, "metric": {"namespace": namespace, "metric_name": name, "dimensions": dimensions,
                                  "stat": stat, "period": period}}


def _gated_rate(errors: dict, requests: dict, minimum: int, label: str) -> list[dict]:
    """100 * errors / requests, but 0 when fewer than ``minimum`` requests came in."""
    return [errors, requests, {"id": "rate", "label": label, "return_data": True,
                               "expression": f"IF(requests >= {minimum}, 100 * FILL(errors, 0) / requests, 0)"}]


def web_specs(a: AlarmsArgs) -> list[AlarmSpec]:
    t, lb, tg = a.thresholds, a.load_balancer, a.target_group
    if lb is None:
        return []
    elb, both = "AWS/ApplicationELB", {"LoadBalancer": lb, "TargetGroup": tg}
    requests = _stat("requests", elb, "RequestCount", {"LoadBalancer": lb}, "Sum")
    return [
        AlarmSpec("alb-5xx", "The load balancer answers 5xx itself (no healthy web task, or timeouts): check "
                  "`keel status` and the web log for crashes; roll back if a deploy just finished.",
                  t.alb_5xx_percent, queries=_gated_rate(
                      _stat("errors", elb, "HTTPCode_ELB_5XX_Count", {"LoadBalancer": lb}, "Sum"), requests,
                      t.min_requests, "ALB 5xx % of requests"), periods=1, period=300),
        AlarmSpec("target-5xx", "The app returns 5xx: read the web log's ERROR lines (`keel logs web`) for the "
                  "traceback; roll back if it started with a deploy.",
                  t.target_5xx_percent, queries=_gated_rate(
                      _stat("errors", elb, "HTTPCode_Target_5XX_Count", both, "Sum"),
                      _stat("requests", elb, "RequestCount", both, "Sum"), t.min_requests,
                      "target 5xx % of requests"), periods=1, period=300),
        AlarmSpec("p99-latency", "p99 response time is high with real traffic: check database CPU and "
                  "connections, then web CPU; slow pages show in the web log.", t.p99_seconds, queries=[
                      _stat("p99", elb, "TargetResponseTime", both, "p99"),
                      _stat("requests", elb, "RequestCount", both, "Sum"),
                      {"id": "gated", "label": "p99 seconds with traffic", "return_data": True,
                       "expression": f"IF(requests >= {t.min_requests}, p99, 0)"}], periods=2, period=300),
        AlarmSpec("unhealthy-hosts", "Web tasks fail the load balancer's health check: `keel status`, then the "
                  "web log for start-up errors (config, database).", t.unhealthy_hosts,
                  metric=_metric(elb, "UnHealthyHostCount", both, "Maximum"), periods=5),
    ]


def service_specs(a: AlarmsArgs) -> list[AlarmSpec]:
    """CPU and memory of web and worker; CPU pages only at maxCount when the service autoscales."""
    t, specs = a.thresholds, []
    for process in ("web", "worker"):
        dims = {"ClusterName": a.cluster_name, "ServiceName": a.service_names[process]}
        maximum = a.max_counts.get(process)
        specs.append(AlarmSpec(
            f"{process}-cpu", f"{process} CPU is high: scale it (keel:{process}.maxCount or cpu) or find the hot "
            f"code path in the {process} log.", t.cpu_percent,
            metric=_metric("AWS/ECS", "CPUUtilization", dims), periods=10, actions=maximum is None))
        specs.append(AlarmSpec(
            f"{process}-memory", f"{process} memory is near its limit (the task is killed at 100 %): raise "
            f"keel:{process}.memory or look for a leak.", t.memory_percent,
            metric=_metric("AWS/ECS", "MemoryUtilization", dims, "Maximum"), periods=5))
        if maximum is not None:
            specs.append(AlarmSpec(
                f"{process}-at-max", f"{process} runs its maxCount ({maximum}) tasks: autoscaling has no room left.",
                maximum, metric=_metric("ECS/ContainerInsights", "RunningTaskCount", dims, "Maximum"),
                periods=5, actions=False))
    return specs


def database_specs(a: AlarmsArgs) -> list[AlarmSpec]:
    if a.database is None:
        return []
    t, dims = a.thresholds, {"DBInstanceIdentifier": a.database}
    rds = "AWS/RDS"
    return [
        AlarmSpec("db-cpu", "Database CPU is high: find the slow queries (Performance Insights or "
                  "pg_stat_statements), then consider keel:dbInstanceClass.", t.db_cpu_percent,
                  metric=_metric(rds, "CPUUtilization", dims), periods=10),
        AlarmSpec("db-free-storage", "Database storage is nearly full and autoscaling is at or near "
                  "keel:dbMaxAllocatedStorage: raise it, or delete data, before writes fail.",
                  t.db_free_storage_gib * GIB, BELOW, metric=_metric(rds, "FreeStorageSpace", dims, "Minimum"),
                  periods=5),
        AlarmSpec("db-connections", "Database connections near max_connections: check web/worker counts x "
                  "WEB_CONCURRENCY and CONN_MAX_AGE; a leak shows as connections that never drop.",
                  t.db_connections, metric=_metric(rds, "DatabaseConnections", dims, "Maximum"), periods=5),
        AlarmSpec("db-freeable-memory", "Database memory is low (swapping follows): a bigger "
                  "keel:dbInstanceClass, or fewer connections.", t.db_freeable_memory_mib * MIB, BELOW,
                  metric=_metric(rds, "FreeableMemory", dims, "Minimum"), periods=10),
    ]


def cache_specs(a: AlarmsArgs) -> list[AlarmSpec]:
    t, specs = a.thresholds, []
    for node in a.cache_nodes:
        dims = {"CacheClusterId": node}
        suffix = node.rsplit("-", 1)[-1]
        specs += [
            AlarmSpec(f"cache-{suffix}-memory", "Cache memory is filling up: with noeviction a full cache refuses "
                      "writes and the Celery broker stops; drain the queue, clear stale cache keys or raise "
                      "keel:cacheNodeType.", t.cache_memory_percent,
                      metric=_metric("AWS/ElastiCache", "DatabaseMemoryUsagePercentage", dims, "Maximum"),
                      periods=5),
            AlarmSpec(f"cache-{suffix}-evictions", "The cache evicted keys: the maxmemory-policy is no longer "
                      "noeviction, so broker messages can vanish; restore the parameter group.", 1,
                      metric=_metric("AWS/ElastiCache", "Evictions", dims, "Sum"), periods=1),
            AlarmSpec(f"cache-{suffix}-cpu", "Cache engine CPU is high (Valkey runs commands on one thread): look "
                      "for large keys or KEYS-like scans, or a bigger node.", t.cache_cpu_percent,
                      metric=_metric("AWS/ElastiCache", "EngineCPUUtilization", dims), periods=10),
        ]
    return specs


def queue_specs(a: AlarmsArgs) -> list[AlarmSpec]:
    t, specs, ns = a.thresholds, [], a.metrics_namespace
    worker_scales = a.max_counts.get("worker") is not None
    for queue in a.queues:
        dims = {"Queue": queue}
        specs += [
            AlarmSpec(f"queue-{queue}-depth", f"Celery queue {queue} is long: are workers running "
                      "(`keel status`) and failing tasks (`keel logs worker`)? Raise keel:worker.maxCount.",
                      t.queue_depth, metric=_metric(ns, "QueueDepth", dims, "Maximum"), periods=10,
                      actions=not worker_scales),
            AlarmSpec(f"queue-{queue}-oldest", f"A task waits in {queue} too long: workers are stuck, stopped or "
                      "too few; check `keel status` and the worker log.", t.oldest_task_seconds,
                      metric=_metric(ns, "OldestTaskAgeSeconds", dims, "Maximum"), periods=5),
        ]
    if a.queues and a.beat_runs:
        specs.append(AlarmSpec(
            "beat-heartbeat", "beat published no heartbeat: periodic tasks are not being scheduled; check "
            "`keel status` (beat running?) and `keel logs beat`.", 1, BELOW,
            metric=_metric(ns, "BeatHeartbeat", {}, "SampleCount"), periods=3, missing="breaching"))
    return specs


def log_specs(a: AlarmsArgs) -> list[AlarmSpec]:
    return [AlarmSpec(f"{process}-errors", f"{process} logs ERROR lines: read them with `keel logs {process}`.",
                      a.thresholds.error_lines,
                      metric=_metric(a.metrics_namespace, f"ErrorLines-{process}", {}, "Sum"), periods=1,
                      period=300) for process in a.log_processes]


def alarm_specs(a: AlarmsArgs) -> list[AlarmSpec]:
    return web_specs(a) + service_specs(a) + database_specs(a) + cache_specs(a) + queue_specs(a) + log_specs(a)


def composite_rules(a: AlarmsArgs, specs: list[AlarmSpec]) -> dict[str, tuple[str, str]]:
    """{composite key: (rule over child keys, runbook)} for the children without actions."""
    keys = {s.key for s in specs}
    found = {}
    for process in ("web", "worker"):
        if f"{process}-at-max" in keys and f"{process}-cpu" in keys:
            found[f"{process}-cpu-at-max"] = (f"{process}-cpu AND {process}-at-max",
                                              f"{process} CPU is high at maxCount: raise keel:{process}.maxCount "
                                              "or its cpu, or find what got slower.")
    for queue in a.queues:
        if "worker-at-max" in keys and not next(s for s in specs if s.key == f"queue-{queue}-depth").actions:
            found[f"queue-{queue}-backlog"] = (f"queue-{queue}-depth AND worker-at-max",
                                               f"Celery queue {queue} is long and the worker runs maxCount tasks: "
                                               "raise keel:worker.maxCount or find slow tasks.")
    return found


class Alarms(pulumi.ComponentResource):
    names: list[str]

    def __init__(self, name: str, args: AlarmsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{PACKAGE}:cloudwatch:Alarms", name, None, opts)
        specs = alarm_specs(args)
        alarms = {spec.key: self._alarm(name, args, spec) for spec in specs}
        for key, (rule, runbook) in composite_rules(args, specs).items():
            expression = " ".join(f'ALARM("{args.prefix}-{word}")' if word in alarms else word
                                  for word in rule.split())
            aws.cloudwatch.CompositeAlarm(
                f"{name}-{key}", alarm_name=f"{args.prefix}-{key}", alarm_description=runbook, alarm_rule=expression,
                alarm_actions=[args.topic_arn], ok_actions=[args.topic_arn], tags=args.tags,
                opts=child(self, depends_on=[alarms[w] for w in rule.split() if w in alarms]))
        self.names = [f"{args.prefix}-{key}" for key in alarms]
        self.register_outputs({})

    def _alarm(self, name: str, args: AlarmsArgs, spec: AlarmSpec) -> aws.cloudwatch.MetricAlarm:
        actions = [args.topic_arn] if spec.actions else []
        common = dict(
            name=f"{args.prefix}-{spec.key}", alarm_description=spec.runbook, comparison_operator=spec.comparison,
            threshold=spec.threshold, evaluation_periods=spec.periods, datapoints_to_alarm=spec.datapoints,
            treat_missing_data=spec.missing, alarm_actions=actions, ok_actions=actions, tags=args.tags,
            opts=child(self))
        if spec.queries:
            queries = [aws.cloudwatch.MetricAlarmMetricQueryArgs(
                id=q["id"], expression=q.get("expression"), label=q.get("label"),
                return_data=q.get("return_data", False) or None,
                metric=aws.cloudwatch.MetricAlarmMetricQueryMetricArgs(**q["metric"]) if "metric" in q else None)
                for q in spec.queries]
            return aws.cloudwatch.MetricAlarm(f"{name}-{spec.key}", metric_queries=queries, **common)
        return aws.cloudwatch.MetricAlarm(f"{name}-{spec.key}", period=spec.period, **spec.metric, **common)
