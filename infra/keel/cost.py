"""What a stack costs per month, from its evaluated resource graph and the dated price table.

``monthly_cost(evaluation)`` walks the resources the program registers under mocks (keel.evaluate, as
`keel check` does) and prices what runs all month: Fargate vCPU and GB hours by architecture and Spot
share (desired counts at deploy time), the load balancer (one LCU assumed), NAT gateways, public IPv4
addresses (NAT, one per load-balancer AZ, one per public task), RDS instance and gp3 storage (twice with
Multi-AZ), ElastiCache nodes (Valkey 20 % below Redis OSS), interface VPC endpoints per AZ, KMS keys,
Secrets Manager secrets (plus RDS's managed one), CloudWatch alarms (per metric), composite alarms,
dashboards, custom metrics and an estimate of log ingestion, and WAF. Traffic-driven charges (data
transfer, NAT and endpoint GB, requests) are left out and said so. Prices: keel/data/prices.json.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

PRICES_PATH = Path(__file__).resolve().parent / "data" / "prices.json"
NOT_COUNTED = "data transfer, NAT/endpoint GB processed, request-driven LCUs, S3 storage and requests, snapshots"


@cache
def price_table() -> dict:
    return json.loads(PRICES_PATH.read_text())


class UnknownPrice(KeyError):
    """The table has no price for a region or size the stack uses."""


@dataclass(frozen=True)
class Line:
    item: str
    detail: str
    monthly: float


def _region_prices(region: str) -> dict:
    regions = price_table()["regions"]
    if region not in regions:
        raise UnknownPrice(f"no prices for region {region!r}: the table has {', '.join(regions)}")
    return regions[region]


def _lookup(table: dict, key: str, what: str) -> float:
    if key not in table:
        raise UnknownPrice(f"no price for {what} {key!r}: the table has {', '.join(table)}")
    return table[key]


def spot_share(strategy: list[dict] | None, count: int) -> float:
    """Tasks on FARGATE_SPOT among ``count``: bases first (FARGATE's), the rest split by weight (ECS
    developer guide, "Capacity provider strategy": base, then weight)."""
    if not strategy:
        return 0.0
    on_demand = next((s for s in strategy if s["capacityProvider"] == "FARGATE"), {})
    spot = next((s for s in strategy if s["capacityProvider"] == "FARGATE_SPOT"), {})
    base = int(on_demand.get("base") or 0)
    weights = float(on_demand.get("weight") or 0) + float(spot.get("weight") or 0)
    beyond = max(0, count - base)
    return beyond * float(spot.get("weight") or 0) / weights if weights else 0.0


def fargate_lines(evaluation, prices: dict, hours: float, spot_discount: float) -> list[Line]:
    lines = []
    definitions = {r.arn: r.inputs for r in evaluation.by_type("aws:ecs/taskDefinition:TaskDefinition")}
    for service in evaluation.by_type("aws:ecs/service:Service"):
        inputs = service.inputs
        task = definitions[inputs["taskDefinition"]]
        arch = (task.get("runtimePlatform") or {}).get("cpuArchitecture", "X86_64").lower()
        rate = prices["fargate"]["arm64" if arch == "arm64" else "x86_64"]
        vcpu, gb = int(task["cpu"]) / 1024, int(task["memory"]) / 1024
        count = int(inputs.get("desiredCount", 1))
        spot = spot_share(inputs.get("capacityProviderStrategies"), count)
        per_task = (vcpu * rate["vcpu_hour"] + gb * rate["gb_hour"]) * hours
        monthly = per_task * ((count - spot) + spot * (1 - spot_discount))
        detail = f"{count} x {vcpu:g} vCPU / {gb:g} GB {arch}" + (f", {spot:g} on Spot" if spot else "")
        lines.append(Line(f"Fargate {inputs['name']}", detail, monthly))
    return lines


def public_ipv4_count(evaluation) -> int:
    subnets = {r.id: r.inputs for r in evaluation.by_type("aws:ec2/subnet:Subnet")}
    found = len(evaluation.by_type("aws:ec2/eip:Eip"))
    for lb in evaluation.by_type("aws:lb/loadBalancer:LoadBalancer"):
        if not lb.inputs.get("internal"):
            found += len({subnets.get(s, {}).get("availabilityZone", s) for s in lb.inputs.get("subnets", [])})
    for service in evaluation.by_type("aws:ecs/service:Service"):
        if (service.inputs.get("networkConfiguration") or {}).get("assignPublicIp"):
            found += int(service.inputs.get("desiredCount", 1))
    return found


def _alarm_metrics(alarm: dict) -> int:
    queries = alarm.get("metricQueries") or []
    return max(1, sum(1 for q in queries if q.get("metric"))) if queries else 1


def monthly_cost(evaluation, region: str | None = None) -> list[Line]:
    """Every priced line of the evaluated stack, in USD per month."""
    table = price_table()
    region = region or evaluation.config.get("aws:region", "us-east-1")
    p = _region_prices(region)
    hours, assumptions = table["hours_per_month"], table["assumptions"]
    lines = fargate_lines(evaluation, p, hours, assumptions["fargate_spot_discount"])
    for _ in evaluation.by_type("aws:lb/loadBalancer:LoadBalancer"):
        lines.append(Line("Application Load Balancer", f"{assumptions['alb_lcu']} LCU",
                          (p["alb_hour"] + assumptions["alb_lcu"] * p["alb_lcu_hour"]) * hours))
    nats = evaluation.by_type("aws:ec2/natGateway:NatGateway")
    if nats:
        lines.append(Line("NAT gateways", f"{len(nats)} x hours", len(nats) * p["nat_hour"] * hours))
    addresses = public_ipv4_count(evaluation)
    lines.append(Line("Public IPv4 addresses", f"{addresses}", addresses * p["public_ipv4_hour"] * hours))
    for db in evaluation.by_type("aws:rds/instance:Instance"):
        copies = 2 if db.inputs.get("multiAz") else 1
        instance = _lookup(p["rds_postgres_hour"], db.inputs["instanceClass"], "RDS instance class") * hours * copies
        storage = float(db.inputs["allocatedStorage"]) * p["rds_gp3_gb_month"] * copies
        lines.append(Line("RDS PostgreSQL", f"{db.inputs['instanceClass']}{' Multi-AZ' if copies == 2 else ''}, "
                          f"{float(db.inputs['allocatedStorage']):g} GB gp3", instance + storage))
    for group in evaluation.by_type("aws:elasticache/replicationGroup:ReplicationGroup"):
        nodes = int(group.inputs.get("numCacheClusters", 1))
        rate = _lookup(p["elasticache_hour"], group.inputs["nodeType"], "ElastiCache node type")
        if group.inputs.get("engine") == "valkey":
            rate *= 1 - p["valkey_discount"]
        lines.append(Line("ElastiCache", f"{nodes} x {group.inputs['nodeType']} {group.inputs.get('engine')}",
                          nodes * rate * hours))
    az_hours = sum(len(e.inputs.get("subnetIds") or []) for e in evaluation.by_type("aws:ec2/vpcEndpoint:VpcEndpoint")
                   if e.inputs.get("vpcEndpointType") == "Interface")
    if az_hours:
        lines.append(Line("VPC interface endpoints", f"{az_hours} endpoint-AZs",
                          az_hours * p["interface_endpoint_az_hour"] * hours))
    keys = len(evaluation.by_type("aws:kms/key:Key"))
    if keys:
        lines.append(Line("KMS keys", f"{keys}", keys * p["kms_key_month"]))
    secrets = len(evaluation.by_type("aws:secretsmanager/secret:Secret")) + sum(
        1 for db in evaluation.by_type("aws:rds/instance:Instance") if db.inputs.get("manageMasterUserPassword"))
    lines.append(Line("Secrets Manager", f"{secrets} secrets", secrets * p["secret_month"]))
    lines += cloudwatch_lines(evaluation, p, assumptions)
    for acl in evaluation.by_type("aws:wafv2/webAcl:WebAcl"):
        rules = len(acl.inputs.get("rules") or [])
        lines.append(Line("WAF", f"1 web ACL, {rules} rules", p["waf_acl_month"] + rules * p["waf_rule_month"]))
    return lines


def cloudwatch_lines(evaluation, p: dict, assumptions: dict) -> list[Line]:
    alarm_metrics = sum(_alarm_metrics(a.inputs) for a in evaluation.by_type("aws:cloudwatch/metricAlarm:MetricAlarm"))
    composites = len(evaluation.by_type("aws:cloudwatch/compositeAlarm:CompositeAlarm"))
    dashboards = len(evaluation.by_type("aws:cloudwatch/dashboard:Dashboard"))
    custom = len(evaluation.by_type("aws:cloudwatch/logMetricFilter:LogMetricFilter"))
    if any(r.name == "queue-metrics-publish" for r in evaluation.by_type("aws:iam/rolePolicy:RolePolicy")):
        custom += 3  # QueueDepth, OldestTaskAgeSeconds (one queue), BeatHeartbeat
    tasks = sum(int(s.inputs.get("desiredCount", 1)) for s in evaluation.by_type("aws:ecs/service:Service"))
    log_gb = tasks * assumptions["log_gb_per_task_month"]
    lines = [Line("CloudWatch alarms", f"{alarm_metrics} alarm metrics, {composites} composite",
                  alarm_metrics * p["alarm_metric_month"] + composites * p["composite_alarm_month"])]
    if dashboards:
        lines.append(Line("CloudWatch dashboard", f"{dashboards}", dashboards * p["dashboard_month"]))
    lines.append(Line("CloudWatch custom metrics", f"{custom}", custom * p["custom_metric_month"]))
    lines.append(Line("CloudWatch Logs ingestion (estimate)", f"{log_gb:g} GB", log_gb * p["log_ingest_gb"]))
    return lines


def total(lines: list[Line]) -> float:
    return sum(line.monthly for line in lines)


def render_table(lines: list[Line], stack: str, region: str) -> str:
    width = max(len(line.item) for line in lines)
    rows = [f"{line.item.ljust(width)}  {line.monthly:9.2f}  {line.detail}" for line in lines]
    table = price_table()
    return "\n".join([
        f"stack {stack} in {region}: USD per month, prices of {table['date']} (keel/data/prices.json)",
        *rows, f"{'total'.ljust(width)}  {total(lines):9.2f}",
        f"not counted: {NOT_COUNTED}"])


PRESET_REGIONS = ("us-east-1", "eu-west-1", "eu-central-1")
MARKERS = ("<!-- cost-table:generated by `keel cost --markdown` -->", "<!-- /cost-table -->")


def markdown_table(evaluations: dict[str, Any]) -> str:
    """The docs' cost table: each preset's monthly total per documented region, and its largest lines."""
    table = price_table()
    head = ["| preset | " + " | ".join(PRESET_REGIONS) + " | largest lines (eu-west-1) |",
            "|---|" + "---:|" * len(PRESET_REGIONS) + "---|"]
    rows = []
    for stack, evaluation in evaluations.items():
        totals = [f"{total(monthly_cost(evaluation, region)):,.0f}" for region in PRESET_REGIONS]
        lines = sorted(monthly_cost(evaluation, "eu-west-1"), key=lambda line: -line.monthly)[:4]
        biggest = ", ".join(f"{line.item} {line.monthly:,.0f}" for line in lines)
        rows.append(f"| {stack} | " + " | ".join(totals) + f" | {biggest} |")
    return "\n".join([MARKERS[0], "", f"USD per month, prices of {table['date']}; not counted: {NOT_COUNTED}.", "",
                      *head, *rows, "", MARKERS[1]])
