"""ElastiCache Redis/Valkey rules (RED-01..RED-09) on ``aws:elasticache/replicationGroup``."""

from __future__ import annotations

from keel_policy.model import Finding, Resource, Stack, as_list, is_false, is_true, number
from keel_policy.network import public_subnets_named
from keel_policy.registry import ALL, HIGH, LOW, MEDIUM, OPT, PROD, Context, resource_rule, stack_rule

CACHE = "elasticache:ReplicationGroup"


@resource_rule("RED-01", "atRestEncryptionEnabled is true", "FSBP ElastiCache.4; CKV_AWS_29", ALL, HIGH, (CACHE,))
def at_rest(cache: Resource, ctx: Context):
    if not is_true(cache.props.get("atRestEncryptionEnabled")):
        yield Finding("atRestEncryptionEnabled is not true")


@resource_rule("RED-02", "transitEncryptionEnabled is true (clients use rediss:// URLs)",
               "FSBP ElastiCache.5; CKV_AWS_30", ALL, HIGH, (CACHE,))
def in_transit(cache: Resource, ctx: Context):
    if not is_true(cache.props.get("transitEncryptionEnabled")):
        yield Finding("transitEncryptionEnabled is not true")


@resource_rule("RED-03", "Clients authenticate: an authToken or RBAC userGroupIds (over the TLS of RED-02)",
               "FSBP ElastiCache.6; CKV_AWS_31", ALL, HIGH, (CACHE,))
def authentication(cache: Resource, ctx: Context):
    if not cache.props.get("authToken") and not as_list(cache.props.get("userGroupIds")):
        yield Finding("neither authToken nor userGroupIds is set: anyone in the security group can connect")


@resource_rule("RED-04", "Automatic failover across AZs: automaticFailoverEnabled, multiAzEnabled, "
               "2+ cache clusters", "FSBP ElastiCache.3; CKV2_AWS_50", PROD, MEDIUM, (CACHE,))
def failover(cache: Resource, ctx: Context):
    nodes = number(cache.props.get("numCacheClusters"))
    if nodes is None and number(cache.props.get("replicasPerNodeGroup")) is not None:
        nodes = number(cache.props.get("replicasPerNodeGroup")) + 1
    if not (is_true(cache.props.get("automaticFailoverEnabled")) and is_true(cache.props.get("multiAzEnabled"))
            and (nodes or 1) >= 2):
        yield Finding("set automaticFailoverEnabled=true, multiAzEnabled=true and numCacheClusters >= 2")


@resource_rule("RED-05", "snapshotRetentionLimit is at least 1", "FSBP ElastiCache.1; CKV_AWS_134", PROD, LOW, (CACHE,))
def snapshots(cache: Resource, ctx: Context):
    if (number(cache.props.get("snapshotRetentionLimit")) or 0) < 1:
        yield Finding("snapshotRetentionLimit is below 1 (no automatic backups)")


@resource_rule("RED-06", "autoMinorVersionUpgrade is not false", "FSBP ElastiCache.2; CKV_AWS_322", ALL, LOW, (CACHE,))
def minor_upgrades(cache: Resource, ctx: Context):
    if is_false(cache.props.get("autoMinorVersionUpgrade")):
        yield Finding("autoMinorVersionUpgrade is false")


@stack_rule("RED-07", "subnetGroupName names a custom subnet group of private subnets",
            "FSBP ElastiCache.7; CKV_AWS_323", ALL, MEDIUM, (CACHE,))
def private_subnet_group(stack: Stack, ctx: Context):
    for cache in stack.of(CACHE):
        name = cache.props.get("subnetGroupName")
        if not name or str(name).lower() == "default":
            yield Finding(f"subnetGroupName is {name!r}: the default subnet group", cache)
            continue
        for group in stack.referenced(cache, "subnetGroupName", name, "elasticache:SubnetGroup"):
            public = public_subnets_named(stack, group, "subnetIds", group.props.get("subnetIds"))
            if public:
                yield Finding(f"subnet group {group.name} holds public subnets {[s.name for s in public]}", cache)


@stack_rule("RED-08", "The parameter group sets maxmemory-policy=noeviction (evicted kombu keys break Celery)",
            "Celery Redis broker caveats (reliability)", ALL, HIGH, (CACHE,))
def noeviction(stack: Stack, ctx: Context):
    for cache in stack.of(CACHE):
        groups = stack.referenced(cache, "parameterGroupName", cache.props.get("parameterGroupName"),
                                  "elasticache:ParameterGroup")
        if not any(p.get("name") == "maxmemory-policy" and p.get("value") == "noeviction"
                   for g in groups for p in as_list(g.props.get("parameters"))):
            yield Finding("no parameter group from this stack with maxmemory-policy=noeviction "
                          "(the default volatile-lru may evict broker keys)", cache)


@resource_rule("RED-09", "Encrypted at rest with a customer-managed key (kmsKeyId)", "CKV_AWS_191", OPT, LOW, (CACHE,))
def cmk(cache: Resource, ctx: Context):
    if not cache.props.get("kmsKeyId"):
        yield Finding("no kmsKeyId: encrypted with the AWS-managed key")
