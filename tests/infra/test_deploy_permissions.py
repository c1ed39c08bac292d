"""What the deploying identity needs that the stack's own resources do not show: the docs must say it."""

from __future__ import annotations

from keel.evaluate import repo_root

# Resources whose first creation in an account makes AWS create a service-linked role, with the
# caller's rights (IAM User Guide, "Using service-linked roles"; each service's "Using service-linked
# roles for ..." page: ECS AWSServiceRoleForECS, ELB AWSServiceRoleForElasticLoadBalancing, RDS
# AWSServiceRoleForRDS, ElastiCache AWSServiceRoleForElastiCache, Application Auto Scaling
# AWSServiceRoleForApplicationAutoScaling_ECSService).
CREATES_SERVICE_LINKED_ROLE = (
    "aws:ecs/cluster:Cluster", "aws:lb/loadBalancer:LoadBalancer", "aws:rds/instance:Instance",
    "aws:elasticache/replicationGroup:ReplicationGroup", "aws:appautoscaling/target:Target",
)


def test_deploy_role_docs_ask_for_service_linked_role_creation(stack):
    """A fresh account's first `pulumi up` fails without iam:CreateServiceLinkedRole."""
    assert any(stack.by_type(type_) for type_ in CREATES_SERVICE_LINKED_ROLE)
    setup = (repo_root() / "docs" / "security-and-delivery.md").read_text()
    rights = setup.split("need the rights to create the stack")[1].split("\n4.")[0]
    assert "`iam:CreateServiceLinkedRole`" in rights
    assert "iam:CreateServiceLinkedRole" in (repo_root() / "README.md").read_text()
