"""Application Auto Scaling for an ECS service: target tracking on CPU and, for web, requests per target."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from keel.components import PACKAGE, child

SCALE_OUT_COOLDOWN = 60
SCALE_IN_COOLDOWN = 300


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
    tags: dict[str, str] = field(default_factory=dict)


class ServiceScaling(pulumi.ComponentResource):
    def __init__(self, name: str, args: ScalingArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{PACKAGE}:appautoscaling:ServiceScaling", name, None, opts)
        target = aws.appautoscaling.Target(
            f"{name}-target", service_namespace="ecs", scalable_dimension="ecs:service:DesiredCount",
            resource_id=pulumi.Output.concat("service/", args.cluster_name, "/", args.service_name),
            min_capacity=args.min_count, max_capacity=args.max_count, tags=args.tags, opts=child(self))
        metrics = [("cpu", "ECSServiceAverageCPUUtilization", args.cpu_target, None)]
        if args.request_resource_label is not None:
            metrics.append(("requests", "ALBRequestCountPerTarget", args.requests_per_target,
                            args.request_resource_label))
        for label, metric, value, resource_label in metrics:
            aws.appautoscaling.Policy(
                f"{name}-{label}", policy_type="TargetTrackingScaling", resource_id=target.resource_id,
                scalable_dimension=target.scalable_dimension, service_namespace=target.service_namespace,
                target_tracking_scaling_policy_configuration=aws.appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationArgs(
                    target_value=value, scale_in_cooldown=SCALE_IN_COOLDOWN, scale_out_cooldown=SCALE_OUT_COOLDOWN,
                    predefined_metric_specification=aws.appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationPredefinedMetricSpecificationArgs(
                        predefined_metric_type=metric, resource_label=resource_label)),
                opts=child(self))
        self.register_outputs({})
