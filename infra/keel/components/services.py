"""ECS services for web, worker and beat, each deployed only after the release task succeeded.

web: rolling (min 100 % / max 200 %), circuit breaker with rollback, behind the load balancer.
worker: rolling with circuit breaker. beat: exactly one (desired 1, min 0 % / max 100 %): the old
scheduler stops before the new one starts, so periodic tasks never run twice (ECS-12).
Tasks run in private subnets without public IPs (ECS-02) on the latest Fargate platform (ECS-03),
except on a stack without NAT (``assign_public_ip``, keel:natGateways none: policy exception DEV-PUBLIC-TASKS).
Capacity: on-demand FARGATE, or for web/worker with ``spot`` a capacity-provider strategy: the first
``on_demand_base`` tasks on FARGATE, the rest split 1 : ``spot`` between FARGATE and FARGATE_SPOT. beat and
release never run on Spot (the config refuses it). A Spot interruption is a SIGTERM with two minutes'
notice, which the stop timeout (120 s for worker) and Celery's soft shutdown cover (docs/operations.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from keel.components import PACKAGE, child, named_tags
from keel.stack_config import ProcessSize

HEALTH_CHECK_GRACE_SECONDS = 60  # boot time of gunicorn plus the first passing health checks


def deployment_percents(process: str) -> tuple[int, int]:
    """(minimum healthy %, maximum %) per process."""
    return (0, 100) if process == "beat" else (100, 200)


def capacity_strategy(size: ProcessSize) -> list[dict] | None:
    """The capacity-provider strategy for a size with Spot, else None (launch type FARGATE)."""
    if not size.spot:
        return None
    return [{"capacity_provider": "FARGATE", "base": size.on_demand_base, "weight": 1},
            {"capacity_provider": "FARGATE_SPOT", "base": 0, "weight": size.spot}]


def capacity(size: ProcessSize) -> dict:
    """The service's launch type or capacity-provider strategy (ECS takes one or the other)."""
    strategy = capacity_strategy(size)
    if strategy is None:
        return {"launch_type": "FARGATE"}
    return {"capacity_provider_strategies": [aws.ecs.ServiceCapacityProviderStrategyArgs(**s) for s in strategy]}


@dataclass
class ServicesArgs:
    name_prefix: str
    cluster_arn: pulumi.Input[str]
    task_definition_arns: dict[str, pulumi.Input[str]]
    sizes: dict[str, ProcessSize]
    subnet_ids: list[pulumi.Input[str]]
    security_group_ids: list[pulumi.Input[str]]
    target_group_arn: pulumi.Input[str]
    container_port: int
    exec_enabled: bool
    assign_public_ip: bool = False  # natGateways none only
    timeout_minutes: int = 30
    depends_on: list[pulumi.Resource] = field(default_factory=list)  # the release gate
    # ECS refuses a target group that no listener forwards to yet: web waits for the listener.
    web_depends_on: list[pulumi.Resource] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)


class Services(pulumi.ComponentResource):
    names: dict[str, pulumi.Output[str]]
    services: dict[str, aws.ecs.Service]

    def __init__(self, name: str, args: ServicesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{PACKAGE}:ecs:Services", name, None, opts)
        self.services, self.names = {}, {}
        timeouts = pulumi.CustomTimeouts(create=f"{args.timeout_minutes}m", update=f"{args.timeout_minutes}m")
        for process in ("web", "worker", "beat"):
            size = args.sizes[process]
            minimum, maximum = deployment_percents(process)
            physical = f"{args.name_prefix}-{process}"
            web = process == "web"
            service = aws.ecs.Service(
                f"{name}-{process}", name=physical, cluster=args.cluster_arn,
                task_definition=args.task_definition_arns[process], desired_count=size.count,
                platform_version="LATEST", **capacity(size),
                network_configuration=aws.ecs.ServiceNetworkConfigurationArgs(
                    subnets=args.subnet_ids, security_groups=args.security_group_ids,
                    assign_public_ip=args.assign_public_ip),
                deployment_minimum_healthy_percent=minimum, deployment_maximum_percent=maximum,
                deployment_circuit_breaker=aws.ecs.ServiceDeploymentCircuitBreakerArgs(enable=True, rollback=True),
                load_balancers=[aws.ecs.ServiceLoadBalancerArgs(
                    target_group_arn=args.target_group_arn, container_name="web",
                    container_port=args.container_port)] if web else None,
                health_check_grace_period_seconds=HEALTH_CHECK_GRACE_SECONDS if web else None,
                enable_execute_command=args.exec_enabled, propagate_tags="SERVICE", enable_ecs_managed_tags=True,
                # A failed rollout fails `pulumi up` instead of reporting success.
                wait_for_steady_state=True,
                tags=named_tags(args.tags, physical),
                opts=child(self, depends_on=list(args.depends_on) + (list(args.web_depends_on) if web else []),
                           custom_timeouts=timeouts,
                           # Autoscaling owns the running count between deploys.
                           ignore_changes=["desiredCount"] if size.autoscaling else None))
            self.services[process] = service
            self.names[process] = service.name
        self.register_outputs({"names": self.names})
