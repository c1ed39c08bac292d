"""The keel CLI acts as the stack's pulumi-aws identity, like the release gate (keel.aws_identity).

The stack's AWS settings come from `pulumi config --json --show-secrets` (recorded here: the Pulumi
CLI cannot run); each client keel then makes signs with what those settings say, not the caller's keys.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess

import pytest
from keel.cli.context import Context
from keel.cli.errors import UsageError
from keel.cli.stack import load

from .conftest import REGION, stack_outputs


@pytest.fixture(autouse=True)
def caller(monkeypatch, tmp_path):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIACALLER000000000")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "caller-secret")
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))


def cli_context(config: dict | None, config_exit: int = 0):
    calls = []

    def pulumi(command, **kwargs):
        calls.append(command)
        if command[1:3] == ["stack", "output"]:
            return subprocess.CompletedProcess(command, 0, json.dumps(stack_outputs()), "")
        return subprocess.CompletedProcess(command, config_exit, json.dumps(config or {}), "no passphrase")

    err = io.StringIO()
    return Context(stdout=io.StringIO(), stderr=err, which=lambda name: f"/usr/bin/{name}", run_process=pulumi), calls, err


def signing_key(client) -> str:
    return client._request_signer._credentials.access_key


def test_the_stacks_profile_signs_not_the_callers_keys(tmp_path):
    credentials = tmp_path / "credentials"
    credentials.write_text("[deployer]\naws_access_key_id = AKIASTACKPROFILE001\naws_secret_access_key = s\n")
    context, calls, _ = cli_context({
        "aws:region": {"value": REGION, "secret": False},
        "aws:profile": {"value": "deployer", "secret": False},
        "aws:sharedCredentialsFiles": {"value": json.dumps([str(credentials)]), "secret": False,
                                       "objectValue": [str(credentials)]}})
    load(argparse.Namespace(stack="staging", outputs=None), context)
    assert ["pulumi", "config", "--json", "--show-secrets", "--stack", "staging"] in calls
    assert signing_key(context.client("ecs", REGION)) == "AKIASTACKPROFILE001"


def test_secret_static_keys_from_the_stack_come_first():
    context, _, _ = cli_context({"aws:region": {"value": REGION, "secret": False},
                                 "aws:accessKey": {"value": "AKIASTACKKEY0000001", "secret": True},
                                 "aws:secretKey": {"value": "s", "secret": True}})
    load(argparse.Namespace(stack="staging", outputs=None), context)
    assert signing_key(context.client("logs", REGION)) == "AKIASTACKKEY0000001"


def test_without_settings_beyond_the_region_the_callers_chain_signs():
    context, _, _ = cli_context({"aws:region": {"value": REGION, "secret": False}})
    load(argparse.Namespace(stack="staging", outputs=None), context)
    assert signing_key(context.client("ecs", REGION)) == "AKIACALLER000000000"


def test_unreadable_settings_fall_back_to_the_caller_with_a_line():
    context, _, err = cli_context(None, config_exit=255)
    load(argparse.Namespace(stack="staging", outputs=None), context)
    assert "could not read staging's AWS settings" in err.getvalue()
    assert signing_key(context.client("ecs", REGION)) == "AKIACALLER000000000"


def test_a_bad_setting_is_one_line():
    context, _, _ = cli_context({"aws:region": {"value": REGION, "secret": False},
                                 "aws:accessKey": {"value": "AKIASTACKKEY0000001", "secret": True}})
    with pytest.raises(UsageError, match="aws:secretKey is not set"):
        load(argparse.Namespace(stack="staging", outputs=None), context)
