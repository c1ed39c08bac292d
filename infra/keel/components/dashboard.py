"""A CloudWatch dashboard per stack: the alarms' signals grouped by process, with deploy markers.

Rows: web (requests, 5xx, p99, hosts, CPU/memory), worker (Celery queue depth and oldest-task age, CPU/memory),
beat (heartbeat), release (ERROR lines and its last runs from the log group), then the database and the
cache. Deploy markers: each service row plots Container Insights' DeploymentCount on the right axis (above
1 while a rollout runs) next to RunningTaskCount. Its URL is the ``dashboardUrl`` stack output and a line of
`keel status`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from keel.components import PACKAGE, child
from keel.components.logmetrics import error_metric_name

WIDTH, HEIGHT = 8, 6  # three widgets per row on CloudWatch's 24-column grid


def dashboard_url(region: str, name: str) -> str:
    return f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#dashboards/dashboard/{name}"


@dataclass
class DashboardValues:
    """Plain (resolved) names the widgets point at."""

    name: str
    region: str
    namespace: str  # the stack's own metrics
    cluster: str
    services: dict[str, str]  # web, worker, beat -> service name
    load_balancer: str | None = None
    target_group: str | None = None
    database: str | None = None
    cache_nodes: tuple[str, ...] = ()
    queues: tuple[str, ...] = ()
    release_log_group: str | None = None


def _metric_widget(title: str, metrics: list[list], region: str, stat: str = "Average", period: int = 60) -> dict:
    return {"type": "metric", "properties": {"title": title, "metrics": metrics, "region": region, "stat": stat,
                                             "period": period, "view": "timeSeries"}}


def _service_widgets(v: DashboardValues, process: str) -> list[dict]:
    dims = ["ClusterName", v.cluster, "ServiceName", v.services[process]]
    return [
        _metric_widget(f"{process}: CPU and memory %", [["AWS/ECS", "CPUUtilization", *dims],
                                                         ["AWS/ECS", "MemoryUtilization", *dims]], v.region),
        _metric_widget(f"{process}: tasks and deploys", [
            ["ECS/ContainerInsights", "RunningTaskCount", *dims],
            ["ECS/ContainerInsights", "DeploymentCount", *dims, {"yAxis": "right", "label": "deployments (deploy marker)"}],
        ], v.region, stat="Maximum"),
        _metric_widget(f"{process}: ERROR lines", [[v.namespace, error_metric_name(process)]], v.region, "Sum", 300),
    ]


def rows(v: DashboardValues) -> list[tuple[str, list[dict]]]:
    """(title, widgets) per row, in display order."""
    found = []
    web = []
    if v.load_balancer:
        lb, tg = ["LoadBalancer", v.load_balancer], ["LoadBalancer", v.load_balancer, "TargetGroup", v.target_group]
        elb = "AWS/ApplicationELB"
        web += [
            _metric_widget("web: requests and 5xx", [[elb, "RequestCount", *lb], [elb, "HTTPCode_ELB_5XX_Count", *lb],
                                                      [elb, "HTTPCode_Target_5XX_Count", *tg]], v.region, "Sum"),
            _metric_widget("web: response time p50 / p99 (s)", [[elb, "TargetResponseTime", *tg, {"stat": "p50"}],
                                                                 [elb, "TargetResponseTime", *tg, {"stat": "p99"}]],
                           v.region),
            _metric_widget("web: healthy / unhealthy targets", [[elb, "HealthyHostCount", *tg],
                                                                 [elb, "UnHealthyHostCount", *tg]], v.region, "Maximum"),
        ]
    found.append(("web", web + _service_widgets(v, "web")))
    worker = [_metric_widget(f"worker: queue {q}", [
        [v.namespace, "QueueDepth", "Queue", q, {"label": "waiting tasks"}],
        [v.namespace, "OldestTaskAgeSeconds", "Queue", q, {"yAxis": "right", "label": "oldest waiting (s)"}]],
        v.region, "Maximum") for q in v.queues]
    found.append(("worker", worker + _service_widgets(v, "worker")))
    beat = [_metric_widget("beat: heartbeat (1 per minute)", [[v.namespace, "BeatHeartbeat"]], v.region,
                           "SampleCount")] if v.queues else []
    found.append(("beat", beat + _service_widgets(v, "beat")))
    release = [_metric_widget("release: ERROR lines", [[v.namespace, error_metric_name("release")]], v.region,
                              "Sum", 300)]
    if v.release_log_group:
        release.append({"type": "log", "properties": {
            "title": "release: last runs", "region": v.region, "view": "table",
            "query": f"SOURCE '{v.release_log_group}' | fields @timestamp, @logStream, message "
                     "| sort @timestamp desc | limit 20"}})
    found.append(("release", release))
    data = []
    if v.database:
        db = ["DBInstanceIdentifier", v.database]
        data += [
            _metric_widget("database: CPU % and connections", [
                ["AWS/RDS", "CPUUtilization", *db], ["AWS/RDS", "DatabaseConnections", *db, {"yAxis": "right"}]],
                v.region),
            _metric_widget("database: free storage and memory (bytes)", [
                ["AWS/RDS", "FreeStorageSpace", *db], ["AWS/RDS", "FreeableMemory", *db]], v.region, "Minimum"),
        ]
    if v.cache_nodes:
        data.append(_metric_widget("cache: memory %, engine CPU %, evictions", [
            m for node in v.cache_nodes for m in (
                ["AWS/ElastiCache", "DatabaseMemoryUsagePercentage", "CacheClusterId", node],
                ["AWS/ElastiCache", "EngineCPUUtilization", "CacheClusterId", node],
                ["AWS/ElastiCache", "Evictions", "CacheClusterId", node, {"yAxis": "right", "stat": "Sum"}])],
            v.region, "Maximum"))
    if data:
        found.append(("database and cache", data))
    return found


def dashboard_body(v: DashboardValues) -> str:
    """The dashboard JSON: a text header per row, then its widgets laid out left to right."""
    widgets, y = [], 0
    for title, row in rows(v):
        widgets.append({"type": "text", "x": 0, "y": y, "width": 24, "height": 1,
                        "properties": {"markdown": f"## {title}"}})
        y += 1
        for index, widget in enumerate(row):
            widgets.append({**widget, "x": (index % 3) * WIDTH, "y": y + (index // 3) * HEIGHT, "width": WIDTH,
                            "height": HEIGHT})
        y += HEIGHT * -(-len(row) // 3)
    return json.dumps({"widgets": widgets})


@dataclass
class DashboardArgs:
    name: str
    region: str
    namespace: str
    cluster_name: pulumi.Input[str]
    service_names: dict[str, pulumi.Input[str]]
    load_balancer: pulumi.Input[str] | None = None
    target_group: pulumi.Input[str] | None = None
    database: str | None = None
    cache_nodes: tuple[str, ...] = ()
    queues: tuple[str, ...] = ()
    release_log_group: pulumi.Input[str] | None = None
    tags: dict[str, str] = field(default_factory=dict)


class Dashboard(pulumi.ComponentResource):
    url: pulumi.Output[str]

    def __init__(self, name: str, args: DashboardArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{PACKAGE}:cloudwatch:Dashboard", name, None, opts)
        processes = sorted(args.service_names)
        body = pulumi.Output.all(args.cluster_name, args.load_balancer, args.target_group, args.release_log_group,
                                 *[args.service_names[p] for p in processes]).apply(
            lambda v: dashboard_body(DashboardValues(
                name=args.name, region=args.region, namespace=args.namespace, cluster=v[0],
                services=dict(zip(processes, v[4:], strict=True)), load_balancer=v[1], target_group=v[2],
                database=args.database, cache_nodes=args.cache_nodes, queues=args.queues, release_log_group=v[3])))
        self.dashboard = aws.cloudwatch.Dashboard(f"{name}-dashboard", dashboard_name=args.name, dashboard_body=body,
                                                  opts=child(self))
        self.url = self.dashboard.dashboard_name.apply(lambda n: dashboard_url(args.region, n))
        self.register_outputs({"url": self.url})
