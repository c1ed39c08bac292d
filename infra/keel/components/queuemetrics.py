"""Lets the app publish Celery's queue metrics: cloudwatch:PutMetricData in the stack's namespace only.

beat publishes them (app/config/queue_metrics.py says why beat). PutMetricData has no resource ARN
to scope to (Resource "*", IAM-03's UNSCOPABLE list), so the ``cloudwatch:namespace`` condition is
what keeps the grant to this stack's namespace (CloudWatch user guide, "Using condition keys to limit
access to CloudWatch namespaces"); policy rule OPS-01 checks it. The grant sits on the app's task role,
which all four processes share; only beat has QUEUE_METRICS_NAMESPACE set to use it.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from keel.components import PACKAGE, child, policy_json


def publish_policy(namespace: str) -> str:
    return policy_json([{"Sid": "QueueMetrics", "Effect": "Allow", "Action": "cloudwatch:PutMetricData",
                         "Resource": "*", "Condition": {"StringEquals": {"cloudwatch:namespace": namespace}}}])


def role_name(role_arn: str) -> str:
    """arn:aws:iam::123456789012:role/NAME -> NAME (our roles have no path)."""
    return role_arn.rsplit("/", 1)[-1]


@dataclass
class QueueMetricsArgs:
    namespace: str
    task_role_arn: pulumi.Input[str]


class QueueMetrics(pulumi.ComponentResource):
    def __init__(self, name: str, args: QueueMetricsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{PACKAGE}:cloudwatch:QueueMetrics", name, None, opts)
        self.policy = aws.iam.RolePolicy(
            f"{name}-publish", role=pulumi.Output.from_input(args.task_role_arn).apply(role_name),
            policy=publish_policy(args.namespace), opts=child(self))
        self.register_outputs({})
