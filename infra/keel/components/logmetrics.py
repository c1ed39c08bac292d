"""CloudWatch Logs metric filters: ERROR lines per process as a metric (alarmed in components/alarms.py).

Our processes log one JSON object per line with the level in ``level`` (app/config/logs.py,
JsonFormatter), so a JSON filter matches exactly those lines: ``{ $.level = "ERROR" || ... }``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from keel.components import PACKAGE, child

ERROR_PATTERN = '{ ($.level = "ERROR") || ($.level = "CRITICAL") }'


def error_metric_name(process: str) -> str:
    return f"ErrorLines-{process}"


@dataclass
class ErrorLineMetricsArgs:
    namespace: str
    log_group_names: dict[str, pulumi.Input[str]]  # process -> log group
    tags: dict[str, str] = field(default_factory=dict)


class ErrorLineMetrics(pulumi.ComponentResource):
    def __init__(self, name: str, args: ErrorLineMetricsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{PACKAGE}:logs:ErrorLineMetrics", name, None, opts)
        for process, group in args.log_group_names.items():
            aws.cloudwatch.LogMetricFilter(
                f"{name}-{process}", name=error_metric_name(process), log_group_name=group, pattern=ERROR_PATTERN,
                metric_transformation=aws.cloudwatch.LogMetricFilterMetricTransformationArgs(
                    name=error_metric_name(process), namespace=args.namespace, value="1", default_value="0",
                    unit="Count"),
                opts=child(self))
        self.register_outputs({})
