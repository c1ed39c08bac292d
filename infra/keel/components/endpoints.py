"""VPC endpoints (prod, NET-11): image pulls, secrets, logs and S3 stay on AWS's network, not the NAT.

The S3 gateway endpoint is free and also carries ECR's image layers; the interface endpoints cost
per AZ-hour, so they are a preset choice (``keel:vpcEndpoints``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from keel.components import PACKAGE, child, named_tags

INTERFACE_SERVICES = ("ecr.api", "ecr.dkr", "logs", "secretsmanager")
EXEC_SERVICES = ("ssmmessages",)


@dataclass
class EndpointsArgs:
    name: str
    region: str
    vpc_id: pulumi.Input[str]
    subnet_ids: list[pulumi.Input[str]]  # private subnets: one interface per AZ
    route_table_ids: list[pulumi.Input[str]]  # private route tables, for the S3 gateway
    security_group_ids: list[pulumi.Input[str]]  # admits 443 from the tasks
    exec_enabled: bool = False
    tags: dict[str, str] = field(default_factory=dict)


class Endpoints(pulumi.ComponentResource):
    def __init__(self, name: str, args: EndpointsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{PACKAGE}:vpc:Endpoints", name, None, opts)
        aws.ec2.VpcEndpoint(f"{name}-s3", vpc_id=args.vpc_id, service_name=f"com.amazonaws.{args.region}.s3",
                            vpc_endpoint_type="Gateway", route_table_ids=args.route_table_ids,
                            tags=named_tags(args.tags, f"{args.name}-s3"), opts=child(self))
        services = INTERFACE_SERVICES + (EXEC_SERVICES if args.exec_enabled else ())
        for service in services:
            slug = service.replace(".", "-")
            aws.ec2.VpcEndpoint(f"{name}-{slug}", vpc_id=args.vpc_id,
                                service_name=f"com.amazonaws.{args.region}.{service}",
                                vpc_endpoint_type="Interface", private_dns_enabled=True,
                                subnet_ids=args.subnet_ids, security_group_ids=args.security_group_ids,
                                tags=named_tags(args.tags, f"{args.name}-{slug}"), opts=child(self))
        self.register_outputs({})
