"""keel:kmsKey: what the stack's customer-managed key encrypts, and who may use it for what.

Each test evaluates the program under Pulumi's mocks with the key on (prod has it by preset; staging
turns it on with ``keel:kmsKey true``) and reads what the stack would send to AWS.
"""

from __future__ import annotations

import pytest
from keel.evaluate import evaluate_stack
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
