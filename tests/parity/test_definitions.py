"""What the stack's container definitions and the image must agree on, checked one fact at a
time (the end-to-end proof, with every process running, is test_parity.py)."""

from __future__ import annotations

import re

import pytest
from config import contract
from keel import procfile

from tests.parity import oci
from tests.parity.stack import SSM_AGENT_PATHS, check_injected, process_definitions, task_volumes

APP_USER = "10001:10001"


@pytest.fixture(scope="module")
def definitions(staging):
    return process_definitions(staging.container_definitions(), task_volumes(staging))


def test_the_staging_stack_injects_every_variable_every_process_needs(definitions):
    check_injected(definitions)


def test_each_process_runs_its_procfile_line_as_the_image_user(definitions):
    commands = procfile.commands(required=tuple(definitions))
    for name, definition in definitions.items():
        assert definition.command == commands[name], f"{name}: command drifted from the Procfile"
        assert definition.user == APP_USER, f"{name}: user {definition.user}"


def test_the_load_balancer_port_is_the_port_web_binds(definitions):
    web = definitions["web"]
    ports = [mapping["containerPort"] for mapping in web.extra.get("portMappings") or []]
    assert ports == [int(web.environment["PORT"])], f"web maps {ports} but binds PORT={web.environment['PORT']}"


def test_sigkill_never_comes_before_the_apps_drain_ends(definitions):
    assert definitions["web"].stop_timeout > contract.WEB_GRACEFUL_TIMEOUT
    assert definitions["worker"].stop_timeout > contract.WORKER_SOFT_SHUTDOWN_TIMEOUT


def exec_enabled(staging) -> bool:
    """ECS Exec is on for the stack's services (staging: on), as the ECS service resources say."""
    services = staging.by_type("aws:ecs/service:Service")
    assert services, "the stack defines no ECS service"
    flags = {bool(service.plain_inputs.get("enableExecuteCommand")) for service in services}
    assert len(flags) == 1, "ECS Exec is on for some services and off for others"
    return flags.pop()


def test_only_tmp_is_writable_on_a_read_only_root(definitions, staging):
    # With ECS Exec the SSM agent gets its two folders; the app still gets only /tmp.
    agent = SSM_AGENT_PATHS if exec_enabled(staging) else ()
    for name, definition in definitions.items():
        assert definition.extra.get("readonlyRootFilesystem") is True, f"{name}: root filesystem is writable"
        assert definition.writable_paths() == ("/tmp/",), f"{name}: writable {definition.writable_paths()}"
        assert definition.agent_paths() == agent, f"{name}: agent folders {definition.agent_paths()}"


@pytest.mark.timeout(900, func_only=True)  # the body only: oci.build bounds a cold image build
@pytest.mark.image
def test_the_image_runs_web_as_10001_from_the_app_folder_with_no_config_baked_in(image):
    config = oci.image_config(image["tag"])
    assert config["User"] == APP_USER
    assert config["WorkingDir"] == "/srv/app"  # where the Procfile commands run
    assert config["Cmd"] == procfile.commands()["web"] and not config.get("Entrypoint")
    assert "8000/tcp" in config["ExposedPorts"]
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["PATH"].startswith("/opt/venv/bin:") and env["PYTHONDONTWRITEBYTECODE"] == "1"
    baked = sorted(set(env) & set(contract.BY_NAME))
    assert not baked, f"the image bakes in {baked}: configuration belongs to the environment (factor III)"


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@pytest.mark.timeout(900, func_only=True)  # the body only: oci.build bounds a cold image build
@pytest.mark.image
def test_the_image_holds_exactly_the_app_lock(image, tmp_path):
    locked = {normalized(match) for match in
              re.findall(r"^([A-Za-z0-9_.-]+)==", (oci.REPO_ROOT / "requirements" / "app.txt").read_text(), re.M)}
    listing = oci.Container(image["tag"], "distributions", [
        "python", "-c", "import importlib.metadata as m; print(*(d.metadata['Name'] for d in m.distributions()))",
    ], {}, tmp_path)
    try:
        assert listing.wait(timeout=120) == 0, listing.output()
        installed = {normalized(name) for name in listing.stdout().split()}
    finally:
        listing.kill()
    assert installed <= locked, f"installed but not in requirements/app.txt: {sorted(installed - locked)}"
    assert {"django", "celery", "gunicorn"} <= installed
    assert not any(name.startswith("pulumi") for name in installed)
