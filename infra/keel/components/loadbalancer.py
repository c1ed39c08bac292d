"""Application Load Balancer for `web`: HTTPS with TLS 1.3 (HTTP only redirects), health checks on /healthz.

A stack without a domain (dev) serves plain HTTP on the load balancer's DNS name, with a warning.
Settings follow AWS's ECS guidance for fast, zero-downtime rolling deploys: short health-check
interval, healthy threshold 2, deregistration delay 30 s (gunicorn's request timeout).

Maintenance mode (``maintenance``): the serving listener's default action forwards every request
to a target group of one small Lambda function that answers our 503 page with Retry-After (no
task has to run, so it holds during a database restore; a fixed response could not set that
header), and one rule still forwards the health paths to web (plus one for an allow list of CIDRs,
so the team can test). The load balancer's own health checks go straight to web's targets.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from keel.components import PACKAGE, child, dependencies, named_tags

SSL_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"  # ALB-03: passes FSBP ELB.17, Checkov and PCP together
DEREGISTRATION_DELAY = 30  # seconds; above gunicorn's 30 s request timeout, far below AWS's 300 s default
IDLE_TIMEOUT = 60  # gunicorn's keep-alive (75 s) stays above it, so the ALB closes idle connections first


@dataclass
class Maintenance:
    """Maintenance mode: every request but ``exempt_paths`` (and ``allow_cidrs``) goes to the page's function."""

    exempt_paths: list[str]
    allow_cidrs: list[str] = field(default_factory=list)


@dataclass
class LoadBalancerArgs:
    name: str
    vpc_id: pulumi.Input[str]
    subnet_ids: list[pulumi.Input[str]]  # public subnets in >= 2 AZs (ALB-08)
    security_group_ids: list[pulumi.Input[str]]
    app_port: int
    health_path: str
    certificate_arn: pulumi.Input[str] | None = None  # None: plain HTTP (dev without a domain)
    deletion_protection: bool = False
    access_log_bucket: pulumi.Input[str] | None = None
    maintenance: Maintenance | None = None  # None: serve the app
    tags: dict[str, str] = field(default_factory=dict)


class LoadBalancer(pulumi.ComponentResource):
    dns_name: pulumi.Output[str]
    target_group_arn: pulumi.Output[str]

    def __init__(self, name: str, args: LoadBalancerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{PACKAGE}:lb:LoadBalancer", name, None, opts)
        access_logs = aws.lb.LoadBalancerAccessLogsArgs(bucket=args.access_log_bucket, prefix="alb", enabled=True) \
            if args.access_log_bucket is not None else None
        self.lb = aws.lb.LoadBalancer(
            f"{name}", load_balancer_type="application", internal=False, subnets=args.subnet_ids,
            security_groups=args.security_group_ids, drop_invalid_header_fields=True,
            desync_mitigation_mode="defensive", idle_timeout=IDLE_TIMEOUT,
            enable_deletion_protection=args.deletion_protection, access_logs=access_logs,
            tags=named_tags(args.tags, args.name),
            # e.g. the log bucket's policy: ELB test-writes to the bucket when access logs are turned on.
            opts=child(self, depends_on=dependencies(opts)))
        self.target_group = aws.lb.TargetGroup(
            f"{name}-web", port=args.app_port, protocol="HTTP", target_type="ip", vpc_id=args.vpc_id,
            deregistration_delay=DEREGISTRATION_DELAY,
            health_check=aws.lb.TargetGroupHealthCheckArgs(
                enabled=True, path=args.health_path, protocol="HTTP", port="traffic-port", matcher="200",
                interval=10, timeout=5, healthy_threshold=2, unhealthy_threshold=3),
            tags=named_tags(args.tags, f"{args.name}-web"), opts=child(self))
        forward = [aws.lb.ListenerDefaultActionArgs(type="forward", target_group_arn=self.target_group.arn)]
        # Checked like any target group (ALB-10): the function answers every path with its 503 page, so a
        # 503 is healthy here; once a minute, as a Lambda target's check invokes the function.
        self.maintenance_target_group = aws.lb.TargetGroup(
            f"{name}-maintenance", target_type="lambda",
            health_check=aws.lb.TargetGroupHealthCheckArgs(enabled=True, path=args.health_path, matcher="503",
                                                           interval=60, timeout=30),
            tags=named_tags(args.tags, f"{args.name}-maintenance"), opts=child(self)) if args.maintenance else None
        serve = [aws.lb.ListenerDefaultActionArgs(type="forward", target_group_arn=self.maintenance_target_group.arn)] \
            if self.maintenance_target_group else forward
        self.listeners = []
        if args.certificate_arn is not None:
            self.listeners.append(aws.lb.Listener(
                f"{name}-https", load_balancer_arn=self.lb.arn, port=443, protocol="HTTPS", ssl_policy=SSL_POLICY,
                certificate_arn=args.certificate_arn, default_actions=serve,
                tags=named_tags(args.tags, f"{args.name}-https"), opts=child(self)))
            aws.lb.Listener(f"{name}-http", load_balancer_arn=self.lb.arn, port=80, protocol="HTTP",
                            default_actions=[aws.lb.ListenerDefaultActionArgs(
                                type="redirect", redirect=aws.lb.ListenerDefaultActionRedirectArgs(
                                    protocol="HTTPS", port="443", status_code="HTTP_301"))],
                            tags=named_tags(args.tags, f"{args.name}-http-redirect"), opts=child(self))
        else:
            pulumi.log.warn(f"{args.name}: no keel:domain, so the load balancer serves plain HTTP on its DNS "
                            "name. Fine for a dev stack; set keel:domain (and keel:hostedZoneId or "
                            "keel:certificateArn) to serve HTTPS.", resource=self)
            self.listeners.append(aws.lb.Listener(
                f"{name}-http", load_balancer_arn=self.lb.arn, port=80, protocol="HTTP", default_actions=serve,
                tags=named_tags(args.tags, f"{args.name}-http"), opts=child(self)))
        if args.maintenance:
            self._maintenance_rules(name, args)
        self.arn = self.lb.arn
        self.dns_name = self.lb.dns_name
        self.zone_id = self.lb.zone_id
        self.arn_suffix = self.lb.arn_suffix
        self.target_group_arn = self.target_group.arn
        self.target_group_arn_suffix = self.target_group.arn_suffix
        self.register_outputs({"dnsName": self.dns_name})

    def _maintenance_rules(self, name: str, args: LoadBalancerArgs) -> None:
        """What still reaches the app in maintenance: the health paths, and the allow list if any."""
        serving = self.listeners[0]
        conditions = {"health": aws.lb.ListenerRuleConditionArgs(
            path_pattern=aws.lb.ListenerRuleConditionPathPatternArgs(values=args.maintenance.exempt_paths))}
        if args.maintenance.allow_cidrs:
            conditions["allow"] = aws.lb.ListenerRuleConditionArgs(
                source_ip=aws.lb.ListenerRuleConditionSourceIpArgs(values=args.maintenance.allow_cidrs))
        for priority, (purpose, condition) in enumerate(conditions.items(), start=1):
            aws.lb.ListenerRule(
                f"{name}-maintenance-{purpose}", listener_arn=serving.arn, priority=priority,
                conditions=[condition], actions=[aws.lb.ListenerRuleActionArgs(
                    type="forward", target_group_arn=self.target_group.arn)],
                tags=named_tags(args.tags, f"{args.name}-maintenance-{purpose}"), opts=child(self))


class LambdaTarget(pulumi.ComponentResource):
    """Registers a Lambda function in a target group (after its invoke permission exists: ``opts``)."""

    def __init__(self, name: str, target_group_arn: pulumi.Input[str], function_arn: pulumi.Input[str],
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{PACKAGE}:lb:LambdaTarget", name, None, opts)
        aws.lb.TargetGroupAttachment(f"{name}-attachment", target_group_arn=target_group_arn, target_id=function_arn,
                                     opts=child(self, depends_on=dependencies(opts)))
        self.register_outputs({})
