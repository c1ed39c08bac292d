"""The ECS cluster: Container Insights on (ECS-01); ECS Exec sessions logged when exec is enabled.

FARGATE and FARGATE_SPOT are the cluster's capacity providers (a service's Spot strategy may use
only providers associated with its cluster); the default strategy stays plain FARGATE, so a task
started without a strategy (release, keel run) never lands on Spot.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from keel.components import PACKAGE, child, named_tags


@dataclass
class ClusterArgs:
    name: str
    exec_log_group: pulumi.Input[str] | None = None  # audit log of `keel shell` sessions (ECS-15)
    kms_key_arn: pulumi.Input[str] | None = None
    tags: dict[str, str] = field(default_factory=dict)


class Cluster(pulumi.ComponentResource):
    arn: pulumi.Output[str]
    name: pulumi.Output[str]

    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{PACKAGE}:ecs:Cluster", name, None, opts)
        configuration = None
        if args.exec_log_group is not None:
            configuration = aws.ecs.ClusterConfigurationArgs(
                execute_command_configuration=aws.ecs.ClusterConfigurationExecuteCommandConfigurationArgs(
                    kms_key_id=args.kms_key_arn, logging="OVERRIDE",
                    log_configuration=aws.ecs.ClusterConfigurationExecuteCommandConfigurationLogConfigurationArgs(
                        cloud_watch_log_group_name=args.exec_log_group,
                        cloud_watch_encryption_enabled=args.kms_key_arn is not None)))
        self.cluster = aws.ecs.Cluster(
            f"{name}", name=args.name, configuration=configuration,
            settings=[aws.ecs.ClusterSettingArgs(name="containerInsights", value="enabled")],
            tags=named_tags(args.tags, args.name), opts=child(self))
        self.providers = aws.ecs.ClusterCapacityProviders(
            f"{name}-providers", cluster_name=self.cluster.name, capacity_providers=["FARGATE", "FARGATE_SPOT"],
            default_capacity_provider_strategies=[aws.ecs.ClusterCapacityProvidersDefaultCapacityProviderStrategyArgs(
                capacity_provider="FARGATE", base=0, weight=1)],
            opts=child(self))
        self.arn = self.cluster.arn
        self.name = self.cluster.name
        self.register_outputs({"arn": self.arn})
