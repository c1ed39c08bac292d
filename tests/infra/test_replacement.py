"""Replacement safety: a change that replaces a resource must not collide with the one it replaces.

Pulumi creates the replacement before deleting the old resource, so anything with a fixed physical
name would fail with "already exists" on the first description or family change.
"""

from __future__ import annotations

from keel.components.cache import parameter_group_name


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
