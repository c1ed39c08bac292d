"""The `keel` entry point: help for every command, and errors as short messages, never tracebacks."""

from __future__ import annotations

import pytest
from botocore.exceptions import EndpointConnectionError, NoCredentialsError
from keel.cli import main


@pytest.mark.parametrize("command", ["run", "shell", "logs", "status"])
def test_every_command_has_help(command, capsys):
    assert main([command, "--help"]) == 0
    help_text = capsys.readouterr().out
    assert f"usage: keel {command}" in help_text
    assert "--stack NAME" in help_text and "--outputs FILE" in help_text


def test_no_command_prints_help_and_fails(keel):
    result = keel()
    assert result.code == 2
    assert "run" in result.err and "status" in result.err


def test_argument_errors_are_two_lines(capsys):
    assert main(["run", "--cpu", "lots", "--", "true"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "keel run: argument --cpu: invalid int value: 'lots'",
        "keel: see `keel run --help`",
    ]


def failing_client(error):
    def factory(service, region):
        raise error

    return factory


def test_unexpected_error_is_one_line_and_a_hint(keel, outputs_file):
    keel.client = failing_client(RuntimeError("boom"))
    result = keel("status", "--outputs", str(outputs_file()))

    assert result.code == 1
    assert result.err.splitlines() == [
        "keel: unexpected error: RuntimeError: boom",
        "keel: rerun with --debug to see the traceback, and report it if it looks like a bug",
    ]


def test_debug_shows_the_traceback(keel, outputs_file):
    keel.client = failing_client(RuntimeError("boom"))
    result = keel("status", "--debug", "--outputs", str(outputs_file()))

    assert result.code == 1
    assert "Traceback" in result.err and "RuntimeError: boom" in result.err


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (NoCredentialsError(), "keel: no usable AWS credentials found"),
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:9"), "keel: cannot reach AWS at http://127.0.0.1:9"),
    ],
)
def test_aws_client_problems_say_what_to_do(keel, outputs_file, error, message):
    keel.client = failing_client(error)
    result = keel("status", "--outputs", str(outputs_file()))

    assert result.code == 1
    lines = result.err.splitlines()
    assert lines[0] == message and len(lines) == 2


def test_check_command_is_registered_when_present_and_skipped_when_absent(monkeypatch, keel):
    import sys
    import types

    from keel.cli import build_parser

    check = types.ModuleType("keel.cli.check")

    def add_parser(subparsers):
        parser = subparsers.add_parser("check", help="check the stack against the policy rules")
        parser.set_defaults(func=lambda args: 4)  # a command without the context argument

    check.add_parser = add_parser
    monkeypatch.setitem(sys.modules, "keel.cli.check", check)
    assert "check " in build_parser().format_help()
    assert keel("check").code == 4

    monkeypatch.setitem(sys.modules, "keel.cli.check", None)  # as if the module did not exist
    help_text = build_parser().format_help()
    assert "check " not in help_text and "status " in help_text


def test_credential_problems_inside_the_task_runner_keep_their_hint(keel, outputs_file):
    class NoCredentialsEcs:
        def get_paginator(self, name):
            return self

        def paginate(self, **request):
            raise NoCredentialsError()

    keel.ecs = NoCredentialsEcs()
    result = keel("run", "--outputs", str(outputs_file()), "--", "true")

    assert result.code == 1
    assert result.err.splitlines()[0] == "keel: no usable AWS credentials found"
    assert "AWS_PROFILE" in result.err.splitlines()[1]
