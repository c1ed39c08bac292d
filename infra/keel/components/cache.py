"""ElastiCache (Valkey or Redis OSS) replication group: the cache and the Celery broker.

TLS in transit, an AUTH token and encryption at rest (RED-01..03); ``maxmemory-policy
noeviction`` because an evicted ``_kombu.*`` key silently breaks the broker (RED-08); prod adds
a replica in another AZ with automatic failover (RED-04) and snapshots.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from keel.components import PACKAGE, child, named_tags

PORT = 6379


@dataclass
class CacheArgs:
    identifier: str  # names the group (plus "-cmk" with a customer key) and its subnet group; at most 36 characters
    subnet_ids: list[pulumi.Input[str]]
    security_group_ids: list[pulumi.Input[str]]
    engine: str = "valkey"
    engine_version: str = "8.0"
    node_type: str = "cache.t4g.micro"
    replicas: int = 0  # read replicas; >= 1 turns on automatic failover and Multi-AZ
    snapshot_retention_days: int = 0
    kms_key_arn: pulumi.Input[str] | None = None
    apply_immediately: bool = True
    protect: bool = False
    tags: dict[str, str] = field(default_factory=dict)


def parameter_group_family(engine: str, version: str) -> str:
    major = version.split(".")[0]
    return f"valkey{major}" if engine == "valkey" else f"redis{major}"


def parameter_group_name(identifier: str, family: str, description: str) -> str:
    """A name that changes whenever the group must be replaced (family or description change).

    ElastiCache parameter groups take no name prefix; with a fixed name, the replacement Pulumi creates
    before deleting the old group would collide with it.
    """
    digest = hashlib.sha256(f"{family}|{description}".encode()).hexdigest()[:6]
    return f"{identifier}-{family}-{digest}"


def replication_group_id(identifier: str, customer_key: bool) -> str:
    """The group's id, which names its key choice: ``<identifier>`` (AWS-managed key) or
    ``<identifier>-cmk`` (the stack's customer-managed key).

    ElastiCache fixes the encryption-at-rest key at creation (kms_key_id forces a new group), and
    Pulumi creates the replacement before deleting the old group: with one fixed id, turning
    keel:kmsKey on or off would fail with "ReplicationGroupAlreadyExists". With the choice in the id,
    the new group is created, the stack's secrets and tasks move to it, and the old one is deleted
    (its cache and queued tasks go with it).
    """
    return f"{identifier}-cmk" if customer_key else identifier


class Cache(pulumi.ComponentResource):
    address: pulumi.Output[str]
    auth_token: pulumi.Output[str]

    def __init__(self, name: str, args: CacheArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{PACKAGE}:elasticache:Cache", name, None, opts)
        # AUTH tokens: 16-128 printable characters without / " @ or spaces; letters and digits are safe
        # in URLs too.
        token = random.RandomPassword(f"{name}-auth-token", length=64, special=False, opts=child(self))
        subnets = aws.elasticache.SubnetGroup(f"{name}-subnets", name=args.identifier, subnet_ids=args.subnet_ids,
                                              description=f"{args.identifier}: private subnets only",
                                              tags=named_tags(args.tags, args.identifier), opts=child(self))
        family = parameter_group_family(args.engine, args.engine_version)
        description = f"{args.identifier}: broker-safe (never evict keys)"
        parameters = aws.elasticache.ParameterGroup(
            f"{name}-params", name=parameter_group_name(args.identifier, family, description), family=family,
            description=description,
            parameters=[aws.elasticache.ParameterGroupParameterArgs(name="maxmemory-policy", value="noeviction")],
            tags=named_tags(args.tags, args.identifier), opts=child(self))
        failover = args.replicas >= 1
        self.group = aws.elasticache.ReplicationGroup(
            f"{name}-group", replication_group_id=replication_group_id(args.identifier, args.kms_key_arn is not None),
            description=f"{args.identifier}: Django cache and Celery broker",
            engine=args.engine, engine_version=args.engine_version, node_type=args.node_type,
            num_cache_clusters=1 + args.replicas, port=PORT, parameter_group_name=parameters.name,
            subnet_group_name=subnets.name, security_group_ids=args.security_group_ids,
            at_rest_encryption_enabled=True, kms_key_id=args.kms_key_arn, transit_encryption_enabled=True,
            auth_token=token.result, auth_token_update_strategy="ROTATE",
            automatic_failover_enabled=failover, multi_az_enabled=failover,
            snapshot_retention_limit=args.snapshot_retention_days, auto_minor_version_upgrade=True,
            apply_immediately=args.apply_immediately,
            tags=named_tags(args.tags, args.identifier), opts=child(self, protect=args.protect))
        self.address = self.group.primary_endpoint_address
        self.port = PORT
        self.auth_token = token.result
        self.register_outputs({"address": self.address})
