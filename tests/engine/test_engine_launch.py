"""Every process `pulumi preview --policy-pack policy` / `pulumi up` starts for this stack starts,
under the engine's own rules (tests/engine/rules.py, each with its pulumi/pulumi source): the language
host running infra/, the Python dynamic provider serving the release gate and deploy check, and the
policy pack's analyzer. Each is started as the engine would start it and answers over gRPC.

The engine's environment is the user's shell: here the test's environment without any virtualenv
activated, since `pulumi` is usually run from a plain shell (or CI, or Pulumi Deployments).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import grpc
import pytest
from google.protobuf import empty_pb2
from keel.components.deploy_check import DeployCheckProvider
from keel.components.release import ReleaseProvider
from keel.evaluate import read_stack_config
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc, provider_pb2, provider_pb2_grpc

from tests.engine.monitor import FakeEngine
from tests.engine.rules import (
    REPO,
    LaunchError,
    PythonProject,
    dynamic_provider_launch,
    install_requirements,
    plugin_environment,
    policy_pack_launch,
    program_directory,
    program_launch,
    python_toolchain,
    start_plugin,
    virtualenv_path,
)
from tests.release.stubs import struct

ENGINE_ADDRESS = "127.0.0.1:1"  # the engine's own gRPC address, passed as the plugin's first argument
URN = "urn:pulumi:dev::keel::keel:release:Release$pulumi-python:dynamic/keel:ReleaseRun::release-run"
TD = "arn:aws:ecs:eu-west-1:123456789012:task-definition/keel-dev-release:4"


def shell_environment() -> dict[str, str]:
    """The user's shell: no virtualenv activated, no Python settings of the test run."""
    venv_bin = str(REPO / ".venv" / "bin")
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")
           and not k.startswith(("PULUMI_", "AWS_"))}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != venv_bin)
    return env


@pytest.fixture(scope="module")
def project() -> PythonProject:
    return PythonProject.load(REPO / "Pulumi.yaml")


def stop(process: subprocess.Popen) -> str:
    process.terminate()
    try:
        _, stderr = process.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        _, stderr = process.communicate()
    return stderr




# --- the dynamic provider (release gate, deploy check) ------------------------------------------


def test_the_engine_starts_the_release_gate_and_deploy_check_provider_and_it_answers(project):
    """pkg/resource/plugin/provider_plugin.go + sdk/python/dist/pulumi-resource-pulumi-python: in the
    main: directory, PULUMI_RUNTIME_VIRTUALENV = the raw option. Fails if the launcher finds no
    python there (pulumi/pulumi#7061)."""
    launch = dynamic_provider_launch(program_directory(project), plugin_environment(project, shell_environment()),
                                     [ENGINE_ADDRESS])
    assert launch.cwd == REPO / "infra"
    assert launch.env["PULUMI_RUNTIME_VIRTUALENV"] == project.options["virtualenv"]  # passed on unchanged
    process, port = start_plugin(launch)
    try:
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        grpc.channel_ready_future(channel).result(timeout=30)
        stub = provider_pb2_grpc.ResourceProviderStub(channel)
        props = {"__provider": serialize_provider(ReleaseProvider()), "cluster_arn": "arn:aws:ecs:eu-west-1:1:cluster/c",
                 "task_definition_arn": TD, "container_name": "release", "subnet_ids": [], "security_group_ids": ["sg-1"],
                 "log_group_name": "/keel/dev/release", "log_stream_prefix": "keel", "timeout_minutes": 30}
        checked = stub.Check(provider_pb2.CheckRequest(urn=URN, olds=struct({}), news=struct(props)))
        # The provider class was unpickled in that process (keel imported there) and ran its check.
        assert [f.property for f in checked.failures] == ["subnet_ids"]
        # The same process serves the deploy check.
        check_props = {"__provider": serialize_provider(DeployCheckProvider()), "cluster_arn": "c", "services": {},
                       "timeout_minutes": 30}
        checked = stub.Check(provider_pb2.CheckRequest(urn=URN.replace("ReleaseRun", "DeployCheckRun"),
                                                       olds=struct({}), news=struct(check_props)))
        assert [f.property for f in checked.failures] == ["services"]
        channel.close()
    finally:
        stop(process)


def test_the_provider_and_the_program_use_the_same_virtualenv(project):
    """The language host resolves `virtualenv` against the project root (sdk/python/toolchain/pip.go),
    the provider's launcher against the main: directory: both must land on one environment."""
    launch = dynamic_provider_launch(program_directory(project), plugin_environment(project, shell_environment()))
    provider_venv = Path(launch.argv[0]).parent.parent
    assert provider_venv.resolve() == virtualenv_path(project.root, project.options).resolve() == (REPO / ".venv").resolve()


def test_the_launcher_refuses_a_missing_virtualenv_with_the_scripts_message(tmp_path):
    # The rule that makes the two tests above meaningful: a relative value is joined to the cwd.
    with pytest.raises(LaunchError, match=rf'set to "{tmp_path}/.venv", but "{tmp_path}/.venv" doesn\'t exist'):
        dynamic_provider_launch(tmp_path, {"PULUMI_RUNTIME_VIRTUALENV": ".venv/", "PATH": "/usr/bin"})


# --- the program (language host) ----------------------------------------------------------------


def test_the_language_host_runs_the_program_and_it_registers_the_stack(project):
    """sdk/python/cmd/pulumi-language-python/main.go Run: the virtualenv from the project root, the
    program run from main: with --pwd, the stack config in PULUMI_CONFIG; against a monitor on loopback."""
    config, secret_keys = read_stack_config(REPO, "keel", "dev")
    with FakeEngine("keel", "dev", config["aws:region"]) as engine:
        launch = program_launch(project, stack="dev", monitor=engine.address, engine=engine.address, config=config,
                                secret_keys=secret_keys, base_env=shell_environment())
        done = subprocess.run(list(launch.argv), cwd=launch.cwd, env=dict(launch.env), capture_output=True,
                              text=True, timeout=240)
        assert done.returncode == 0, (engine.engine.errors(), done.stderr[-3000:])
        assert engine.engine.errors() == []
        types = engine.registered_types()
    # The release gate and the deploy check were registered as dynamic resources by this process.
    assert {"pulumi-python:dynamic/keel:ReleaseRun", "pulumi-python:dynamic/keel:DeployCheckRun",
            "aws:ecs/service:Service", "aws:ecs/taskDefinition:TaskDefinition"} <= types


def test_pulumi_install_finds_the_programs_requirements(project):
    """`pulumi install` and Pulumi Deployments install PROGRAM DIRECTORY/requirements.txt into the
    virtualenv (sdk/python/toolchain/pip.go InstallDependencies); without it nothing is installed and
    neither the program nor the provider can import pulumi."""
    requirements = install_requirements(project)
    lines = [line.split("#")[0].strip() for line in requirements.read_text().splitlines()]
    # pip reads a nested -r relative to the file that names it: the hash-pinned infra lock.
    nested = [(requirements.parent / line[3:].strip()).resolve() for line in lines if line.startswith("-r ")]
    assert nested == [(REPO / "requirements" / "infra.txt").resolve()]
    assert [line for line in lines if line and not line.startswith("-r ")] == []


# --- the policy pack (analyzer) ------------------------------------------------------------------


def analyzer_info(stack: str):
    config, _ = read_stack_config(REPO, "keel", stack)
    launch = policy_pack_launch(REPO / "policy", ENGINE_ADDRESS, project="keel", stack=stack, config=config,
                                base_env=shell_environment())
    assert launch.cwd == REPO / "policy"
    assert Path(launch.argv[0]).parent.parent.resolve() == (REPO / ".venv").resolve()
    process, port = start_plugin(launch)
    try:
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        grpc.channel_ready_future(channel).result(timeout=30)
        info = analyzer_pb2_grpc.AnalyzerStub(channel).GetAnalyzerInfo(empty_pb2.Empty())
        channel.close()
    finally:
        stop(process)
    return info


def test_the_engine_starts_the_policy_pack_and_it_holds_prod_to_the_prod_rules():
    """pkg/resource/plugin/analyzer_plugin.go + the language host's RunPlugin: the pack's own
    PulumiPolicy.yaml options, resolved against the pack directory, run in the pack directory, with
    the stack's name and config from the engine's ConfigureStack."""
    staging, prod = analyzer_info("staging"), analyzer_info("prod")
    assert staging.name == prod.name == "keel" and len(prod.policies) > 10

    def mandatory(info):
        return {p.name for p in info.policies if p.enforcementLevel == analyzer_pb2.MANDATORY}
    assert mandatory(staging) < mandatory(prod)  # prod-scoped rules are mandatory for prod only


@pytest.mark.parametrize("manifest", ["Pulumi.yaml", "policy/PulumiPolicy.yaml"])
def test_a_uv_lock_does_not_switch_the_toolchain(tmp_path, manifest):
    """With no `toolchain` option the language host picks uv when a uv.lock is in the program
    directory or above (sdk/python/toolchain/toolchain.go), then runs `uv sync` into the virtualenv
    from that lock, not from the hash-pinned locks. uv.lock is git-ignored, so a developer may have one."""
    options = PythonProject.load(REPO / manifest).options
    (tmp_path / "uv.lock").write_text("version = 1\n")
    (tmp_path / "program").mkdir()
    assert python_toolchain(options, tmp_path / "program") == "pip"

