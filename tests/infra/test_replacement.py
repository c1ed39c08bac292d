"""Replacement safety: a change that replaces a resource must not collide with the one it replaces.

Pulumi creates the replacement before deleting the old resource, so anything with a fixed physical
name would fail with "already exists" on the first description or family change.
"""

from __future__ import annotations

import re

import pytest
from keel.components.cache import parameter_group_name
from keel.evaluate import evaluate_stack

from tests.infra.conftest import evaluated


def test_security_groups_are_named_by_prefix(stack):
    for group in stack.by_type("aws:ec2/securityGroup:SecurityGroup"):
        assert "name" not in group.inputs, group.name
        assert group.inputs["namePrefix"] == group.inputs["tags"]["Name"] + "-"


def test_database_parameter_group_is_named_by_prefix(stack):
    (params,) = stack.by_type("aws:rds/parameterGroup:ParameterGroup")
    assert "name" not in params.inputs and params.inputs["namePrefix"].startswith(f"keel-{stack.stack}-db-pg")


def test_database_major_version_upgrades_are_allowed(stack):
    """Raising keel:dbEngineVersion to a new major must apply, not fail at AWS's API."""
    (instance,) = stack.by_type("aws:rds/instance:Instance")
    assert instance.inputs["allowMajorVersionUpgrade"] is True


def test_cache_parameter_group_name_changes_whenever_the_group_is_replaced(stack):
    (params,) = stack.by_type("aws:elasticache/parameterGroup:ParameterGroup")
    name = params.inputs["name"]
    assert name == parameter_group_name(f"keel-{stack.stack}-cache", params.inputs["family"],
                                        params.inputs["description"])
    assert parameter_group_name("c", "valkey8", "a") != parameter_group_name("c", "valkey8", "b")
    assert parameter_group_name("c", "valkey7", "a") != parameter_group_name("c", "valkey8", "a")
    assert parameter_group_name("c", "valkey8", "a") == parameter_group_name("c", "valkey8", "a")


# RDS DB snapshot identifiers: 1-255 letters, digits or hyphens, a letter first, no hyphen last and
# no two in a row (RDS API Reference, CreateDBSnapshot / DeleteDBInstance FinalDBSnapshotIdentifier).
SNAPSHOT_IDENTIFIER = re.compile(r"^[A-Za-z](?!.*--)[A-Za-z0-9-]{0,254}(?<!-)$")


@pytest.mark.parametrize("stack_name", ["staging", "prod"])
def test_final_snapshot_name_is_drawn_anew_for_every_created_database(stack_name):
    """Destroying a re-created stack a second time must not hit the first destroy's snapshot
    (DBSnapshotAlreadyExists). The name's suffix is a pulumi-random RandomId of the database
    component: kept in state (the same name on every preview and update), drawn again whenever the
    stack creates the database again."""
    stack = evaluated(stack_name)
    (instance,) = stack.by_type("aws:rds/instance:Instance")
    (suffix,) = stack.by_type("random:index/randomId:RandomId")
    identifier = instance.inputs["identifier"]
    name = instance.inputs["finalSnapshotIdentifier"]
    assert suffix.parent == "db" and suffix.inputs["keepers"] == {"identifier": identifier}
    assert name.startswith(f"{identifier}-final-") and name != f"{identifier}-final"
    assert len(name) - len(f"{identifier}-final-") == 2 * suffix.inputs["byteLength"] >= 8
    assert SNAPSHOT_IDENTIFIER.match(name), name
    assert instance.inputs["skipFinalSnapshot"] is False


def test_no_final_snapshot_no_suffix(dev):
    (instance,) = dev.by_type("aws:rds/instance:Instance")
    assert instance.inputs["skipFinalSnapshot"] is True and "finalSnapshotIdentifier" not in instance.inputs
    assert not dev.by_type("random:index/randomId:RandomId")


# --- keel:kmsKey on an existing stack ----------------------------------------------------------------
# What a changed keel:kmsKey changes, property by property, as terraform-provider-aws (which pulumi-aws
# bridges) treats it: a ForceNew property replaces the resource, create before delete; any other
# property is updated in place. Sources: internal/service/<service>/<resource>.go, the schema's ForceNew.
REPLACES = {
    ("aws:ecr/repository:Repository", "encryptionConfigurations"),  # ecr/repository.go: ForceNew
    ("aws:ecr/repository:Repository", "name"),
    ("aws:ecr/lifecyclePolicy:LifecyclePolicy", "repository"),  # no name of its own: cannot collide
    ("aws:elasticache/replicationGroup:ReplicationGroup", "kmsKeyId"),  # elasticache/replication_group.go
    ("aws:elasticache/replicationGroup:ReplicationGroup", "replicationGroupId"),
    ("aws:rds/instance:Instance", "kmsKeyId"),  # rds/instance.go: ForceNew (storage key)
    ("aws:ecs/taskDefinition:TaskDefinition", "containerDefinitions"),  # a new revision of the same family
}
UPDATES_IN_PLACE = {
    ("aws:cloudwatch/logGroup:LogGroup", "kmsKeyId"),  # AssociateKmsKey / DisassociateKmsKey
    ("aws:ecr/repository:Repository", "tags"),
    ("aws:ecs/cluster:Cluster", "configuration"),  # UpdateCluster (the ECS Exec channel's key)
    ("aws:iam/rolePolicy:RolePolicy", "policy"),
    ("aws:rds/instance:Instance", "masterUserSecretKmsKeyId"),  # ModifyDBInstance
    ("aws:rds/instance:Instance", "performanceInsightsKmsKeyId"),
    ("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", "rules"),
    ("aws:secretsmanager/secret:Secret", "kmsKeyId"),  # UpdateSecret
    ("aws:sns/topic:Topic", "kmsMasterKeyId"),  # sns/topic.go: a topic attribute, SetTopicAttributes
    # The cache's node ids name the key (<group>-cmk-001): its alarms and dashboard follow, in place.
    ("aws:cloudwatch/metricAlarm:MetricAlarm", "dimensions"),  # cloudwatch/metric_alarm.go: PutMetricAlarm
    ("aws:cloudwatch/dashboard:Dashboard", "dashboardBody"),  # cloudwatch/dashboard.go: PutDashboard
    ("docker:index/image:Image", "imageName"),  # pulumi-docker builds and pushes to the new name
}
PHYSICAL_NAMES = ("name", "identifier", "replicationGroupId")
# Replaced resources that cannot get a new name: refused in preview before anything changes.
REFUSED = {"aws:rds/instance:Instance"}  # the storage key, see test_customer_key.py


def key_flip_changes(stack_name: str):
    """[(type, name, changed properties, before, after)] between the stack as committed and with
    keel:kmsKey flipped."""
    as_is = evaluated(stack_name)
    flipped = evaluate_stack(stack_name, overrides={"keel:kmsKey": not bool(as_is.by_type("aws:kms/key:Key"))})
    before = {(r.type, r.name): r for r in as_is.resources}
    after = {(r.type, r.name): r for r in flipped.resources}
    found = []
    for key in sorted(set(before) & set(after)):
        old, new = before[key].plain_inputs, after[key].plain_inputs
        changed = {p for p in set(old) | set(new) if old.get(p) != new.get(p)}
        if changed:
            found.append((*key, changed, before[key], after[key]))
    return found


@pytest.mark.parametrize("stack_name", ["staging", "prod"])
def test_flipping_keel_kms_key_replaces_nothing_under_the_same_name(stack_name):
    """Create-before-delete of a resource with a fixed name fails with "already exists": every resource the
    key change replaces gets a name of its own, or the program refuses the change first."""
    for type_, name, changed, before, after in key_flip_changes(stack_name):
        unclassified = {(type_, p) for p in changed} - REPLACES - UPDATES_IN_PLACE
        assert not unclassified, f"a new consumer of the stack key: is {unclassified} a replacement?"
        if not {(type_, p) for p in changed} & REPLACES or type_ in REFUSED:
            continue
        names = [p for p in PHYSICAL_NAMES if p in before.inputs]
        assert all(before.inputs[p] != after.inputs[p] for p in names), (type_, name, names)
        if before.protect:
            # The engine refuses in preview to replace a resource protected before and after (pulumi/pulumi,
            # pkg/resource/deploy/step_generator.go: "unable to replace resource ... marked for protection").
            assert type_ == "aws:elasticache/replicationGroup:ReplicationGroup", (type_, name)


def test_replaced_repository_and_cache_names_say_which_key_they_use(staging, prod):
    (repo,) = staging.by_type("aws:ecr/repository:Repository")
    (group,) = staging.by_type("aws:elasticache/replicationGroup:ReplicationGroup")
    assert (repo.inputs["name"], group.inputs["replicationGroupId"]) == ("keel-staging", "keel-staging-cache")
    (repo,) = prod.by_type("aws:ecr/repository:Repository")
    (group,) = prod.by_type("aws:elasticache/replicationGroup:ReplicationGroup")
    assert (repo.inputs["name"], group.inputs["replicationGroupId"]) == ("keel-prod-cmk", "keel-prod-cache-cmk")
    assert len(group.inputs["replicationGroupId"]) <= 40  # ElastiCache's limit, with the longest prefix too
    assert len("x" * 28 + "-cache-cmk") <= 40


def test_prod_keeps_a_replaced_or_destroyed_repository_with_its_images(staging, prod):
    """Prod protects its data: Pulumi forgets its old repository instead of deleting it (a non-empty
    repository would refuse deletion anyway); dev and staging delete it with its images."""
    (repo,) = prod.by_type("aws:ecr/repository:Repository")
    assert repo.retain_on_delete is True and repo.inputs["forceDelete"] is False
    (repo,) = staging.by_type("aws:ecr/repository:Repository")
    assert repo.retain_on_delete is False and repo.inputs["forceDelete"] is True
