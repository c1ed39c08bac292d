"""Replacement safety: a change that replaces a resource must not collide with the one it replaces.

Pulumi creates the replacement before deleting the old resource, so anything with a fixed physical
name would fail with "already exists" on the first description or family change.
"""

from __future__ import annotations

import re

import pytest
from keel.components.cache import parameter_group_name

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
