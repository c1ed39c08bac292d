"""VPC: public and private subnets across availability zones, NAT, the default security group closed.

Public subnets hold only the load balancer and NAT gateways; tasks, the database and the cache
live in private subnets. No subnet hands out public IPs (NET-03). The VPC's default security
group is adopted with no rules so nothing can use it by accident (NET-01).

Without NAT (``nat=False``, keel:natGateways none, dev-class stacks only) the tasks run in the public
subnets with a public IP each (the services and RunTask assign it, the subnets still don't), reaching
ECR, Logs and Secrets Manager through the internet gateway; their security group admits only the load
balancer's, as everywhere. The database and cache stay in private subnets, which then have no route
out at all. Why and what it costs: docs/operations.md; policy exception DEV-PUBLIC-TASKS.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from keel.components import PACKAGE, child, named_tags


@dataclass
class NetworkArgs:
    name: str  # prefix of every Name tag
    cidr: str = "10.10.0.0/16"
    az_count: int = 2  # subnets per tier; the load balancer needs at least 2
    nat_per_az: bool = False  # one NAT gateway per AZ (prod) or one shared (cheaper, one AZ's fate)
    nat: bool = True  # False: no NAT gateway; tasks run in the public subnets with public IPs
    flow_log_bucket_arn: pulumi.Input[str] | None = None  # S3 destination for VPC flow logs (NET-02)
    # What the flow log waits for: the destination bucket's policy (delivery is checked at creation).
    flow_log_depends_on: list[pulumi.Resource] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)


def subnet_cidrs(cidr: str, az_count: int) -> tuple[list[str], list[str]]:
    """(public, private) /20 blocks: public from the bottom of the range, private from the middle."""
    blocks = [str(block) for block in ipaddress.ip_network(cidr).subnets(new_prefix=20)]
    return blocks[:az_count], blocks[8:8 + az_count]


class Network(pulumi.ComponentResource):
    vpc_id: pulumi.Output[str]
    public_subnet_ids: list[pulumi.Output[str]]
    private_subnet_ids: list[pulumi.Output[str]]

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{PACKAGE}:network:Network", name, None, opts)
        zones = aws.get_availability_zones_output(state="available").names
        self.cidr = args.cidr
        self.vpc = aws.ec2.Vpc(f"{name}-vpc", cidr_block=args.cidr, enable_dns_hostnames=True,
                               enable_dns_support=True, tags=named_tags(args.tags, args.name),
                               opts=child(self))
        self.vpc_id = self.vpc.id
        # Adopting the default group with no ingress/egress removes AWS's allow-all rules.
        aws.ec2.DefaultSecurityGroup(f"{name}-default-sg", vpc_id=self.vpc.id, ingress=[], egress=[],
                                     tags=named_tags(args.tags, f"{args.name}-default-closed"),
                                     opts=child(self))
        igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=self.vpc.id,
                                      tags=named_tags(args.tags, f"{args.name}-igw"), opts=child(self))
        public_cidrs, private_cidrs = subnet_cidrs(args.cidr, args.az_count)
        public_table = aws.ec2.RouteTable(
            f"{name}-public-rt", vpc_id=self.vpc.id,
            routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=igw.id)],
            tags=named_tags(args.tags, f"{args.name}-public"), opts=child(self))
        public, private, nats, private_tables = [], [], [], []
        def subnet(tier: str, index: int, cidr: str) -> aws.ec2.Subnet:
            return aws.ec2.Subnet(
                f"{name}-{tier}-{index}", vpc_id=self.vpc.id, cidr_block=cidr, availability_zone=zones[index],
                map_public_ip_on_launch=False,
                tags=named_tags({**args.tags, "tier": tier}, f"{args.name}-{tier}-{index}"), opts=child(self))

        for index, cidr in enumerate(public_cidrs):
            public_subnet = subnet("public", index, cidr)
            aws.ec2.RouteTableAssociation(f"{name}-public-{index}", subnet_id=public_subnet.id,
                                          route_table_id=public_table.id, opts=child(self))
            public.append(public_subnet)
            if args.nat and (index == 0 or args.nat_per_az):
                eip = aws.ec2.Eip(f"{name}-nat-{index}", domain="vpc",
                                  tags=named_tags(args.tags, f"{args.name}-nat-{index}"), opts=child(self))
                nats.append(aws.ec2.NatGateway(
                    f"{name}-nat-{index}", allocation_id=eip.id, subnet_id=public_subnet.id,
                    tags=named_tags(args.tags, f"{args.name}-nat-{index}"),
                    opts=child(self, depends_on=[igw])))
        for index, cidr in enumerate(private_cidrs):
            private_subnet = subnet("private", index, cidr)
            nat = (nats[index] if args.nat_per_az else nats[0]) if nats else None
            table = aws.ec2.RouteTable(
                f"{name}-private-rt-{index}", vpc_id=self.vpc.id,
                routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", nat_gateway_id=nat.id)] if nat else [],
                tags=named_tags(args.tags, f"{args.name}-private-{index}"), opts=child(self))
            aws.ec2.RouteTableAssociation(f"{name}-private-{index}", subnet_id=private_subnet.id,
                                          route_table_id=table.id, opts=child(self))
            private.append(private_subnet)
            private_tables.append(table)
        if args.flow_log_bucket_arn is not None:
            aws.ec2.FlowLog(f"{name}-flow-log", vpc_id=self.vpc.id, traffic_type="ALL",
                            log_destination_type="s3", log_destination=args.flow_log_bucket_arn,
                            tags=named_tags(args.tags, f"{args.name}-flow-log"),
                            opts=child(self, depends_on=list(args.flow_log_depends_on)))
        self.public_subnet_ids = [s.id for s in public]
        self.private_subnet_ids = [s.id for s in private]
        self.private_route_table_ids = [t.id for t in private_tables]
        self.tasks_public = not args.nat
        self.task_subnet_ids = self.public_subnet_ids if self.tasks_public else self.private_subnet_ids
        self.nat_count = len(nats)
        self.register_outputs({"vpcId": self.vpc.id, "privateSubnetIds": self.private_subnet_ids})
