"""keel reads what the stack exports: the staging program under Pulumi mocks feeds `keel run`.

One evaluation of the program (7 s or so on 2 cores, shared by the module) checks the seam: the outputs pass
keel's validation, RunTask gets the stack's release task definition and network, the log stream
keel follows is where the release container's awslogs driver writes, and `keel shell`'s
preflight accepts the release task definition the stack creates.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from keel import outputs as out
from keel.cli import shell, stack


@pytest.fixture(scope="module")
def evaluation():
    from keel.evaluate import evaluate_stack

    return evaluate_stack("staging")


@pytest.fixture
def exported(evaluation, tmp_path):
    path = tmp_path / "staging.json"
    path.write_text(json.dumps(evaluation.outputs))
    return path


def test_run_task_uses_the_stacks_release_definition_and_network(evaluation, exported, keel, ecs_stub):
    values = evaluation.outputs
    _, stubber = ecs_stub
    stubber.add_response("list_tasks", {"taskArns": []})
    stubber.add_response(
        "run_task",
        {"tasks": [{"taskArn": f"arn:aws:ecs:{values[out.REGION]}:123456789012:task/keel-staging/abc"}]},
        {
            "cluster": values[out.CLUSTER_NAME],
            "taskDefinition": values[out.TASK_DEFINITION_ARNS]["release"],
            "count": 1,
            "launchType": "FARGATE",
            "networkConfiguration": {"awsvpcConfiguration": {
                "subnets": values[out.PRIVATE_SUBNET_IDS],
                "securityGroups": [values[out.TASK_SECURITY_GROUP_ID]],
                "assignPublicIp": "DISABLED",
            }},
            "startedBy": "keel-run",
            "enableExecuteCommand": False,
            "propagateTags": "TASK_DEFINITION",
            "overrides": {"containerOverrides": [{"name": values[out.CONTAINER_NAMES]["release"], "command": ["true"]}]},
        },
    )

    result = keel("run", "--stack", "staging", "--outputs", str(exported), "--detach", "--", "true")

    assert result.code == 0, result.err


def test_the_stream_keel_follows_is_where_the_release_container_logs(evaluation, exported):
    outputs = stack.load(SimpleNamespace(stack="staging", outputs=exported), context=None)
    container = evaluation.container_definitions()[outputs.container("release")]
    options = container["logConfiguration"]["options"]

    assert container["logConfiguration"]["logDriver"] == "awslogs"
    assert options["awslogs-group"] == outputs.log_group("release")
    assert options["awslogs-stream-prefix"] == outputs.log_stream_prefix
    assert options["awslogs-region"] == outputs.region


def test_shell_preflight_accepts_the_stacks_release_definition(evaluation, exported):
    outputs = stack.load(SimpleNamespace(stack="staging", outputs=exported), context=None)
    record = evaluation.task_definitions()[outputs.container("release")]
    inputs = record.plain_inputs
    described = {
        "family": inputs["family"],
        "taskRoleArn": inputs.get("taskRoleArn"),
        "containerDefinitions": json.loads(inputs["containerDefinitions"]),
    }
    ecs = SimpleNamespace(describe_task_definition=lambda taskDefinition: {"taskDefinition": described})

    assert outputs.exec_enabled
    shell.check_task_definition(ecs, outputs)  # raises KeelError on a fault
