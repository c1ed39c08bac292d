"""EventBridge rules that page through the stack's topic: what CloudWatch has no metric for.

* ECS deployment failures of this stack's services, which include the deployment circuit breaker's
  rollbacks (eventName SERVICE_DEPLOYMENT_FAILED, reason "ECS deployment circuit breaker: ...";
  ECS developer guide, "Amazon ECS deployment state change events").
* RDS events of this stack's instance: failovers (a Multi-AZ instance has no replica-lag metric), failures,
  low storage, and RDS-EVENT-0225 "storage size reached the maximum storage threshold" (storage autoscaling
  at its ceiling; RDS user guide, "Managing capacity automatically with storage autoscaling").
The topic's policy lets events.amazonaws.com publish (components/notifications.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from keel.components import PACKAGE, child, dependencies

DEPLOYMENT_FAILED = "SERVICE_DEPLOYMENT_FAILED"
RDS_CATEGORIES = ("failover", "failure", "low storage")
RDS_STORAGE_CEILING = "RDS-EVENT-0225"


def deployment_failures_pattern(service_arns: list[str]) -> str:
    return json.dumps({"source": ["aws.ecs"], "detail-type": ["ECS Deployment State Change"],
                       "resources": sorted(service_arns), "detail": {"eventName": [DEPLOYMENT_FAILED]}})


def database_events_pattern(identifier: str) -> str:
    return json.dumps({"source": ["aws.rds"], "detail-type": ["RDS DB Instance Event"],
                       "detail": {"SourceIdentifier": [identifier],
                                  "$or": [{"EventCategories": list(RDS_CATEGORIES)},
                                          {"EventID": [RDS_STORAGE_CEILING]}]}})


@dataclass
class EventAlertsArgs:
    prefix: str
    topic_arn: pulumi.Input[str]
    service_arns: list[pulumi.Input[str]]
    database: str | None = None  # RDS instance identifier
    tags: dict[str, str] = field(default_factory=dict)


class EventAlerts(pulumi.ComponentResource):
    def __init__(self, name: str, args: EventAlertsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{PACKAGE}:events:EventAlerts", name, None, opts)
        patterns = {"deploy-failed": (pulumi.Output.all(*args.service_arns).apply(
            lambda arns: deployment_failures_pattern(list(arns))), "ECS deployment failed or rolled back")}
        if args.database:
            patterns["db-events"] = (database_events_pattern(args.database),
                                     "RDS failover, failure, low storage or storage autoscaling at its ceiling")
        for key, (pattern, description) in patterns.items():
            rule = aws.cloudwatch.EventRule(f"{name}-{key}", name=f"{args.prefix}-{key}", description=description,
                                            event_pattern=pattern, tags=args.tags, opts=child(self))
            # The topic policy must let EventBridge publish before the first event (the component's depends_on).
            aws.cloudwatch.EventTarget(f"{name}-{key}", rule=rule.name, arn=args.topic_arn,
                                       opts=child(self, depends_on=dependencies(opts)))
        self.register_outputs({})
