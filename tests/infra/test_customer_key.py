"""keel:kmsKey: what the stack's customer-managed key encrypts, and who may use it for what.

Each test evaluates the program under Pulumi's mocks with the key on (prod has it by preset; staging
turns it on with ``keel:kmsKey true``) and reads what the stack would send to AWS.
"""

from __future__ import annotations

import pytest
from keel.evaluate import evaluate_stack, repo_root
from keel_policy.engine import FAIL, evaluate
from keel_policy.model import from_record
from keel_policy.registry import Context

from tests.infra.helpers import as_list, statements


@pytest.fixture(scope="module")
def staging_with_key():
    """Staging (ECS Exec on by preset) with the customer-managed key turned on."""
    return evaluate_stack("staging", overrides={"keel:kmsKey": True})


def stack_key_arn(evaluation) -> str:
    (key,) = evaluation.by_type("aws:kms/key:Key")
    return key.arn


def task_policy_statements(evaluation) -> list[dict]:
    (policy,) = [r for r in evaluation.by_type("aws:iam/rolePolicy:RolePolicy") if r.name == "roles-task"]
    return statements(policy.inputs["policy"])


def test_keel_shell_can_open_the_exec_channel_encrypted_with_the_stack_key(staging_with_key):
    """ECS Exec's data channel is encrypted with the cluster's executeCommandConfiguration key; the SSM
    agent in the task decrypts it with the task role, with no AWS service in between (so no ViaService)."""
    key = stack_key_arn(staging_with_key)
    (cluster,) = staging_with_key.by_type("aws:ecs/cluster:Cluster")
    assert cluster.inputs["configuration"]["executeCommandConfiguration"]["kmsKeyId"] == key
    unconditional = [s for s in task_policy_statements(staging_with_key)
                     if "kms:Decrypt" in as_list(s["Action"]) and "Condition" not in s]
    # Least privilege: that key, that action, nothing else in the statement.
    assert [(as_list(s["Action"]), as_list(s["Resource"])) for s in unconditional] == [(["kms:Decrypt"], [key])]
    ctx = Context("staging", "staging")
    failed = [r for r in evaluate([from_record(r) for r in staging_with_key.resources if r.custom], ctx)
              if r.status == FAIL]
    assert not failed, "\n".join(f"{r.rule} {r.resource}: {r.message}" for r in failed)


def test_without_exec_the_task_role_never_decrypts_with_the_key_directly(prod):
    """prod: key on, exec off. Every use of the key by the app goes through S3 or Secrets Manager."""
    for statement in task_policy_statements(prod):
        if any(action.startswith("kms:") for action in as_list(statement["Action"])):
            assert "kms:ViaService" in statement["Condition"]["StringEquals"], statement


def test_the_database_storage_and_performance_insights_use_the_stack_key(prod, staging):
    """Prod's snapshots (automated and final) are encrypted with the stack's key, as the docs say: an RDS
    snapshot takes the instance's storage key."""
    key = stack_key_arn(prod)
    (instance,) = prod.by_type("aws:rds/instance:Instance")
    assert instance.inputs["storageEncrypted"] is True
    assert instance.inputs["kmsKeyId"] == key
    assert instance.inputs["performanceInsightsKmsKeyId"] == key
    assert instance.inputs["masterUserSecretKmsKeyId"] == key
    (instance,) = staging.by_type("aws:rds/instance:Instance")  # key off: RDS's AWS-managed aws/rds key
    assert instance.inputs["storageEncrypted"] is True and "kmsKeyId" not in instance.inputs


# An account where the stack's database already exists, answered the way RDS DescribeDBInstances and
# KMS DescribeKey answer the provider's lookups (pulumi-aws rds.getInstances / rds.getInstance / kms.getKey).
AWS_RDS_KEY = "arn:aws:kms:eu-west-1:123456789012:key/0aws0rds-1111-2222-3333-444455556666"
CUSTOMER_KEY = "arn:aws:kms:eu-west-1:123456789012:key/cust0mer-1111-2222-3333-444455556666"


def existing_database(identifier: str, key_arn: str, key_manager: str) -> dict[str, dict]:
    return {
        "aws:rds/getInstances:getInstances": {
            "instanceIdentifiers": [identifier], "id": "eu-west-1",
            "instanceArns": [f"arn:aws:rds:eu-west-1:123456789012:db:{identifier}"]},
        "aws:rds/getInstance:getInstance": {"dbInstanceIdentifier": identifier, "storageEncrypted": bool(key_arn),
                                             "kmsKeyId": key_arn, "id": identifier},
        "aws:kms/getKey:getKey": {"arn": key_arn, "keyId": key_arn.rsplit("/", 1)[-1], "keyManager": key_manager,
                                  "id": key_arn},
    }


@pytest.mark.parametrize(("stack", "key_arn", "manager", "turned"), [
    ("staging", AWS_RDS_KEY, "AWS", True),  # created without the stack key, keel:kmsKey turned on
    ("prod", CUSTOMER_KEY, "CUSTOMER", False),  # created with it, turned off
])
def test_a_key_change_for_an_existing_database_is_refused_in_one_line_before_anything_changes(
        stack, key_arn, manager, turned):
    """RDS cannot re-encrypt an instance and its fixed identifier makes a replacement collide, after the
    rest of the stack has already moved: the program stops first, naming the key and the way out."""
    identifier = f"keel-{stack}-db"
    refused = evaluate_stack(stack, overrides={"keel:kmsKey": turned}, raise_errors=False,
                             invokes=existing_database(identifier, key_arn, manager))
    message = str(refused.error)
    assert refused.error is not None and "\n" not in message, message
    for part in (f"keel:kmsKey = {str(turned).lower()}", identifier, f"back to {str(not turned).lower()}",
                 "snapshot and restore", "docs/stack-config.md"):
        assert part in message, (part, message)
    assert not [r for r in refused.resources if r.custom], "nothing may be created or changed"
    section = message.split('"')[1]  # the docs section the message names exists
    assert f"## {section}\n" in (repo_root() / "docs" / "stack-config.md").read_text()


def test_an_existing_database_with_the_same_key_choice_goes_ahead():
    unchanged = evaluate_stack("staging", raise_errors=False,
                               invokes=existing_database("keel-staging-db", AWS_RDS_KEY, "AWS"))
    assert unchanged.error is None and unchanged.by_type("aws:rds/instance:Instance")


def test_an_existing_unencrypted_database_is_refused_whatever_the_key():
    """Storage encryption itself is fixed at creation (storage_encrypted forces a new instance)."""
    invokes = existing_database("keel-staging-db", "", "AWS")
    refused = evaluate_stack("staging", raise_errors=False, invokes=invokes)
    assert "created it without storage encryption" in str(refused.error) and "\n" not in str(refused.error)
