"""Application Auto Scaling for an ECS service.

Target tracking on CPU always; for web also on ALB requests per target; for worker also on Celery's
backlog per running task when beat publishes the queue metrics:

    backlog per task = QueueDepth (our namespace, beat) / RunningTaskCount (ECS/ContainerInsights)

AWS/ECS publishes no task count; Container Insights (on for every Keel cluster, ECS-01) does, per
ClusterName and ServiceName. Target tracking with metric math ("customized metric specification" with
``metrics``; Application Auto Scaling user guide, "Create a target tracking scaling policy using metric
math") keeps that ratio near ``backlog_per_task``; like every target tracking policy it scales out when
any policy asks and in only when all agree (so CPU still protects a busy worker with an empty queue).

From zero: with no task running the ratio has no value and target tracking does nothing, so a
worker with ``minCount: 0`` also gets a step scaling policy: an alarm on
``IF(FILL(DesiredTaskCount, 0) == 0 AND QueueDepth >= 1, 1, 0)`` adds one task; target tracking takes
over once it runs. ``backlog_capacity`` and ``wakes_from_zero`` below are the same arithmetic in Python,
tested over metric series in tests/infra/test_scaling.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from keel.components import PACKAGE, child

SCALE_OUT_COOLDOWN = 60
SCALE_IN_COOLDOWN = 300
FROM_ZERO_COOLDOWN = 120  # a Fargate task needs about a minute to start and pull
INSIGHTS = "ECS/ContainerInsights"
BACKLOG_EXPRESSION = "depth / running"
FROM_ZERO_EXPRESSION = "IF(FILL(desired, 0) == 0 AND depth >= 1, 1, 0)"


def backlog_capacity(current: int, depth: float, target: float, min_count: int, max_count: int) -> int:
    """The task count target tracking moves to: proportional to metric / target (App Auto Scaling docs,
    "How target tracking works"), rounded up on scale-out, within min..max. With no running task the
    metric has no value (division by zero): the count stays."""
    if current == 0:
        return current
    wanted = math.ceil(current * (depth / current) / target) if depth else 0
    return max(min_count, min(max_count, wanted))


def wakes_from_zero(desired: int | None, depth: float) -> bool:
    """FROM_ZERO_EXPRESSION: a missing DesiredTaskCount counts as 0."""
    return (desired or 0) == 0 and depth >= 1


@dataclass
class ScalingArgs:
    cluster_name: pulumi.Input[str]
    service_name: pulumi.Input[str]
    min_count: int
    max_count: int
    cpu_target: int
    # "app/<lb>/<id>/targetgroup/<tg>/<id>": adds request-count tracking (web only)
    request_resource_label: pulumi.Input[str] | None = None
    requests_per_target: int = 1000
    # worker: scale on the Celery queue published in this namespace (None: CPU only)
    queue_namespace: str | None = None
    queue: str = "celery"
    backlog_per_task: int = 10
    prefix: str = ""  # name of the wake-from-zero alarm
    tags: dict[str, str] = field(default_factory=dict)


class ServiceScaling(pulumi.ComponentResource):
    def __init__(self, name: str, args: ScalingArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{PACKAGE}:appautoscaling:ServiceScaling", name, None, opts)
        target = aws.appautoscaling.Target(
            f"{name}-target", service_namespace="ecs", scalable_dimension="ecs:service:DesiredCount",
            resource_id=pulumi.Output.concat("service/", args.cluster_name, "/", args.service_name),
            min_capacity=args.min_count, max_capacity=args.max_count, tags=args.tags, opts=child(self))
        self.target = target
        metrics = [("cpu", "ECSServiceAverageCPUUtilization", args.cpu_target, None)]
        if args.request_resource_label is not None:
            metrics.append(("requests", "ALBRequestCountPerTarget", args.requests_per_target,
                            args.request_resource_label))
        for label, metric, value, resource_label in metrics:
            self._tracking(f"{name}-{label}", target, value, predefined=Spec.Predefined(
                predefined_metric_type=metric, resource_label=resource_label))
        if args.queue_namespace:
            self._tracking(f"{name}-backlog", target, args.backlog_per_task,
                           customized=Spec.Customized(metrics=self._backlog_queries(args)))
            if args.min_count == 0:
                self._from_zero(name, target, args)
        self.register_outputs({})

    def _tracking(self, name: str, target: aws.appautoscaling.Target, value: float, predefined=None,
                  customized=None) -> aws.appautoscaling.Policy:
        return aws.appautoscaling.Policy(
            name, policy_type="TargetTrackingScaling", resource_id=target.resource_id,
            scalable_dimension=target.scalable_dimension, service_namespace=target.service_namespace,
            target_tracking_scaling_policy_configuration=aws.appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationArgs(
                target_value=value, scale_in_cooldown=SCALE_IN_COOLDOWN, scale_out_cooldown=SCALE_OUT_COOLDOWN,
                predefined_metric_specification=predefined, customized_metric_specification=customized),
            opts=child(self))

    @staticmethod
    def _backlog_queries(args: ScalingArgs) -> list:
        def stat(id_: str, namespace: str, metric: str, dims: dict) -> Spec.Metric:
            return Spec.Metric(id=id_, return_data=False, metric_stat=Spec.MetricStat(stat="Average", metric=Spec.StatMetric(
                namespace=namespace, metric_name=metric,
                dimensions=[Spec.Dimension(name=k, value=v) for k, v in dims.items()])))
        return [
            stat("depth", args.queue_namespace, "QueueDepth", {"Queue": args.queue}),
            stat("running", INSIGHTS, "RunningTaskCount",
                 {"ClusterName": args.cluster_name, "ServiceName": args.service_name}),
            Spec.Metric(id="backlog", expression=BACKLOG_EXPRESSION, label="waiting tasks per running worker",
                        return_data=True),
        ]

    def _from_zero(self, name: str, target: aws.appautoscaling.Target, args: ScalingArgs) -> None:
        policy = aws.appautoscaling.Policy(
            f"{name}-from-zero", policy_type="StepScaling", resource_id=target.resource_id,
            scalable_dimension=target.scalable_dimension, service_namespace=target.service_namespace,
            step_scaling_policy_configuration=aws.appautoscaling.PolicyStepScalingPolicyConfigurationArgs(
                adjustment_type="ChangeInCapacity", cooldown=FROM_ZERO_COOLDOWN, metric_aggregation_type="Maximum",
                step_adjustments=[aws.appautoscaling.PolicyStepScalingPolicyConfigurationStepAdjustmentArgs(
                    scaling_adjustment=1, metric_interval_lower_bound="0")]),
            opts=child(self))
        dims = {"ClusterName": args.cluster_name, "ServiceName": args.service_name}
        aws.cloudwatch.MetricAlarm(
            f"{name}-from-zero", name=f"{args.prefix}-worker-wake-from-zero",
            alarm_description="Starts a worker when tasks wait and none is running (scaling, not a page).",
            comparison_operator="GreaterThanOrEqualToThreshold", threshold=1, evaluation_periods=1,
            treat_missing_data="notBreaching", alarm_actions=[policy.arn], tags=args.tags,
            metric_queries=[
                aws.cloudwatch.MetricAlarmMetricQueryArgs(id="depth", metric=aws.cloudwatch.MetricAlarmMetricQueryMetricArgs(
                    namespace=args.queue_namespace, metric_name="QueueDepth", dimensions={"Queue": args.queue},
                    stat="Maximum", period=60)),
                aws.cloudwatch.MetricAlarmMetricQueryArgs(id="desired", metric=aws.cloudwatch.MetricAlarmMetricQueryMetricArgs(
                    namespace=INSIGHTS, metric_name="DesiredTaskCount", dimensions=dims, stat="Maximum", period=60)),
                aws.cloudwatch.MetricAlarmMetricQueryArgs(id="wake", expression=FROM_ZERO_EXPRESSION,
                                                          label="tasks wait, no worker", return_data=True)],
            opts=child(self))


class Spec:
    """Short names for pulumi_aws's target tracking argument classes."""

    _base = "PolicyTargetTrackingScalingPolicyConfiguration"
    Predefined = getattr(aws.appautoscaling, f"{_base}PredefinedMetricSpecificationArgs")
    Customized = getattr(aws.appautoscaling, f"{_base}CustomizedMetricSpecificationArgs")
    Metric = getattr(aws.appautoscaling, f"{_base}CustomizedMetricSpecificationMetricArgs")
    MetricStat = getattr(aws.appautoscaling, f"{_base}CustomizedMetricSpecificationMetricMetricStatArgs")
    StatMetric = getattr(aws.appautoscaling, f"{_base}CustomizedMetricSpecificationMetricMetricStatMetricArgs")
    Dimension = getattr(aws.appautoscaling,
                        f"{_base}CustomizedMetricSpecificationMetricMetricStatMetricDimensionArgs")
