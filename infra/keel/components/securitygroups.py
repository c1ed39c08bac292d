"""The security-group graph: least privilege between the load balancer, tasks, Postgres and Redis.

world -> ALB: 443 (and 80, which only redirects);  ALB -> tasks: the app port only;
tasks -> Postgres 5432 / Redis 6379 / AWS APIs 443 (SES's API too) / the SMTP port of keel:email;  nothing else. Every group is managed with
standalone rule resources only (no inline rules, NET-08) and every rule has a description (NET-07).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from keel.components import PACKAGE, child, named_tags

WORLD_V4 = "0.0.0.0/0"


@dataclass
class SecurityGroupsArgs:
    name: str
    vpc_id: pulumi.Input[str]
    app_port: int
    listener_ports: tuple[int, ...] = (443, 80)  # what the world may reach on the load balancer
    database_port: int | None = 5432  # None: no database security group (attached database)
    cache_port: int | None = 6379  # None: no cache security group (attached Redis)
    # Ports of attached (external) backing services the tasks must reach.
    external_ports: tuple[int, ...] = ()
    endpoints: bool = False  # a group for VPC interface endpoints: 443 from the tasks
    smtp_port: int | None = None  # the mail server's port (keel:email SMTP URL); None: no SMTP out
    tags: dict[str, str] = field(default_factory=dict)


class SecurityGroups(pulumi.ComponentResource):
    def __init__(self, name: str, args: SecurityGroupsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{PACKAGE}:network:SecurityGroups", name, None, opts)
        self._name = name
        self._args = args
        self.alb = self._group("alb", "Load balancer: HTTPS (and the HTTP redirect) from the internet")
        self.tasks = self._group("tasks", "ECS tasks (web, worker, beat, release): app port from the load balancer")
        self.database = self._group("db", "PostgreSQL: 5432 from the app tasks only") \
            if args.database_port else None
        self.cache = self._group("cache", "Redis: 6379 from the app tasks only") if args.cache_port else None
        self.endpoints = self._group("endpoints", "VPC interface endpoints: HTTPS from the app tasks only") \
            if args.endpoints else None

        for port in args.listener_ports:
            purpose = "HTTPS" if port == 443 else "HTTP, redirected to HTTPS" if 443 in args.listener_ports else "HTTP"
            self._ingress(f"alb-{port}", self.alb, port, f"{purpose} from the internet", cidr=WORLD_V4)
        self._egress(f"alb-to-tasks-{args.app_port}", self.alb, args.app_port, "To the app tasks",
                     peer=self.tasks)
        self._ingress(f"tasks-from-alb-{args.app_port}", self.tasks, args.app_port, "App port from the load balancer",
                      peer=self.alb)
        self._egress("tasks-https", self.tasks, 443, "AWS APIs (ECR, Secrets Manager, Logs, S3) via NAT",
                     cidr=WORLD_V4)
        if self.database is not None:
            self._ingress("db-from-tasks", self.database, args.database_port, "PostgreSQL from the app tasks",
                          peer=self.tasks)
            self._egress("tasks-to-db", self.tasks, args.database_port, "To PostgreSQL", peer=self.database)
        if self.cache is not None:
            self._ingress("cache-from-tasks", self.cache, args.cache_port, "Redis from the app tasks",
                          peer=self.tasks)
            self._egress("tasks-to-cache", self.tasks, args.cache_port, "To Redis", peer=self.cache)
        if self.endpoints is not None:
            self._ingress("endpoints-from-tasks", self.endpoints, 443, "AWS APIs from the app tasks",
                          peer=self.tasks)
        if args.smtp_port and args.smtp_port != 443:
            self._egress(f"tasks-smtp-{args.smtp_port}", self.tasks, args.smtp_port,
                         "To the SMTP server of keel:email", cidr=WORLD_V4)
        for port in sorted(set(args.external_ports) - {443, args.smtp_port}):
            self._egress(f"tasks-external-{port}", self.tasks, port, f"To an attached backing service on {port}",
                         cidr=WORLD_V4)
        self.register_outputs({"taskSecurityGroupId": self.tasks.id})

    def _group(self, role: str, description: str) -> aws.ec2.SecurityGroup:
        physical = f"{self._args.name}-{role}"
        # A prefix, not a fixed name: a new description replaces the group, and Pulumi creates the new
        # one before deleting the old, which a fixed name would collide with. The Name tag stays readable.
        return aws.ec2.SecurityGroup(f"{self._name}-{role}", name_prefix=f"{physical}-", description=description,
                                     vpc_id=self._args.vpc_id, tags=named_tags(self._args.tags, physical),
                                     opts=child(self))

    def _ingress(self, label: str, group, port: int, description: str, cidr: str | None = None, peer=None) -> None:
        self._rule(aws.vpc.SecurityGroupIngressRule, "in", label, group, port, description, cidr, peer)

    def _egress(self, label: str, group, port: int, description: str, cidr: str | None = None, peer=None) -> None:
        self._rule(aws.vpc.SecurityGroupEgressRule, "out", label, group, port, description, cidr, peer)

    def _rule(self, resource, direction: str, label: str, group, port: int, description: str,
              cidr: str | None, peer) -> None:
        """One TCP port, to or from either a CIDR or a peer security group."""
        physical = f"{self._args.name}-{direction}-{label}"
        resource(f"{self._name}-{direction}-{label}", security_group_id=group.id, description=description,
                 ip_protocol="tcp", from_port=port, to_port=port, cidr_ipv4=cidr,
                 referenced_security_group_id=peer.id if peer is not None else None,
                 tags=named_tags(self._args.tags, physical), opts=child(self))
