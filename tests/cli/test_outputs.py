"""Where the stack's facts come from: --outputs FILE or the Pulumi CLI, with clear errors."""

from __future__ import annotations

import json
import subprocess

import pytest
from keel import outputs as out

from .conftest import stack_outputs


@pytest.fixture
def no_aws(keel):
    """Fails the test if keel reaches AWS: every case here must stop before that."""

    def refuse(service, region):
        raise AssertionError(f"keel called {service} although the outputs were unusable")

    keel.client = refuse
    return keel


def assert_short_error(result, *fragments, code=2):
    assert result.code == code, result.err
    for fragment in fragments:
        assert fragment in result.err, result.err
    assert "Traceback" not in result.err
    assert len(result.err.strip().splitlines()) <= 2, result.err


def test_missing_file(no_aws, tmp_path):
    result = no_aws("status", "--outputs", str(tmp_path / "nope.json"))
    assert_short_error(result, "nope.json does not exist", "pulumi stack output --json")


def test_bad_json(no_aws, outputs_file):
    result = no_aws("status", "--outputs", str(outputs_file(text='{"region": "eu-west-1",')))
    assert_short_error(result, "is not valid JSON", "line 1")


def test_json_that_is_not_an_object(no_aws, outputs_file):
    result = no_aws("status", "--outputs", str(outputs_file(text="[1, 2]")))
    assert_short_error(result, "holds a JSON list")


def test_missing_keys_are_named(no_aws, outputs_file):
    values = stack_outputs()
    del values[out.CLUSTER_NAME], values[out.LOG_STREAM_PREFIX]
    result = no_aws("status", "--outputs", str(outputs_file(values)))
    assert_short_error(result, out.CLUSTER_NAME, out.LOG_STREAM_PREFIX, "pulumi up")


def test_wrongly_shaped_values_are_named(no_aws, outputs_file):
    values = stack_outputs(**{out.PRIVATE_SUBNET_IDS: [], out.TASK_SECURITY_GROUP_ID: "[secret]"})
    result = no_aws("status", "--outputs", str(outputs_file(values)))
    assert_short_error(result, f"{out.PRIVATE_SUBNET_IDS!r} must be a non-empty list", "marked secret")


def test_a_process_missing_from_a_map_is_named(no_aws, outputs_file):
    values = stack_outputs(**{out.TASK_DEFINITION_ARNS: {"web": "arn:aws:ecs:eu-west-1:1:task-definition/web:1"}})
    result = no_aws("run", "--outputs", str(outputs_file(values)), "--", "true")
    assert_short_error(result, "no entry for 'release'")


def test_outputs_of_another_stack_are_refused(no_aws, outputs_file):
    result = no_aws("run", "--stack", "prod", "--outputs", str(outputs_file()), "--", "true")
    assert_short_error(result, "outputs of stack 'staging', not 'prod'")


def test_a_fully_qualified_stack_name_matches_its_outputs(keel, ecs_stub, outputs_file):
    _, stubber = ecs_stub
    stubber.add_response("list_tasks", {"taskArns": []})
    stubber.add_response("run_task", {"tasks": [{"taskArn": "arn:aws:ecs:eu-west-1:1:task/c/abc"}], "failures": []})

    result = keel("run", "--stack", "acme/keel/staging", "--outputs", str(outputs_file()), "--detach", "--", "true")

    assert result.code == 0, result.err


def test_no_stack_and_no_file(no_aws):
    assert_short_error(no_aws("status"), "no stack given", "--stack NAME")


def test_missing_pulumi_cli(no_aws):
    no_aws.which = {}
    result = no_aws("status", "--stack", "staging")
    assert_short_error(result, "Pulumi CLI is not installed", "--outputs FILE", code=1)


@pytest.mark.parametrize(
    ("stderr", "message"),
    [
        ("error: PULUMI_ACCESS_TOKEN must be set for login during non-interactive CLI sessions", "not logged in"),
        ("error: no stack named 'staging' found", "no stack named 'staging'"),
        ("error: constructing secrets manager: passphrase must be set", "PULUMI_CONFIG_PASSPHRASE"),
        ("error: no Pulumi.yaml project file found (searching upwards from /tmp)", "no Pulumi project here"),
        ("error: something odd", "something odd"),
    ],
)
def test_pulumi_failures_become_one_clear_error(no_aws, stderr, message):
    no_aws.which = {"pulumi": "bin/pulumi"}
    no_aws.process_result = lambda argv: subprocess.CompletedProcess(argv, 255, "", stderr + "\n")
    assert_short_error(no_aws("status", "--stack", "staging"), message, code=1)


def test_stack_without_outputs_yet(no_aws):
    no_aws.which = {"pulumi": "bin/pulumi"}
    no_aws.process_result = lambda argv: subprocess.CompletedProcess(argv, 0, "{}\n", "")
    assert_short_error(no_aws("status", "--stack", "staging"), "has no outputs yet", "pulumi up --stack staging", code=1)


def test_outputs_come_from_pulumi_without_secrets(keel, ecs_stub):
    """The Pulumi CLI is asked for this stack's outputs, never with --show-secrets."""
    keel.which = {"pulumi": "bin/pulumi"}
    keel.process_result = lambda argv: subprocess.CompletedProcess(argv, 0, json.dumps(stack_outputs()), "")
    _, stubber = ecs_stub
    stubber.add_response("list_tasks", {"taskArns": []})
    stubber.add_response("run_task", {"tasks": [{"taskArn": "arn:aws:ecs:eu-west-1:1:task/c/abc"}], "failures": []})

    result = keel("run", "--stack", "staging", "--detach", "--", "true")

    assert result.code == 0, result.err
    assert keel.processes == [["pulumi", "stack", "output", "--json", "--non-interactive", "--stack", "staging"]]
    # Run in this checkout's Pulumi project, so the stack name resolves from any directory.
    assert (keel.process_options[0]["cwd"] / "Pulumi.yaml").is_file()
