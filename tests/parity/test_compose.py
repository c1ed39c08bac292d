"""docker-compose.yml runs what the Procfile and the contract say (no Docker engine here to run it)."""

from __future__ import annotations

import re

import pytest
import yaml
from config import contract
from keel import procfile

from tests.parity.oci import REPO_ROOT

APP_SERVICES = ("release", "web", "worker", "beat")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())


def seconds(duration: str) -> int:
    match = re.fullmatch(r"(\d+)s", str(duration))
    assert match, f"stop_grace_period {duration!r} is not in seconds (e.g. 60s)"
    return int(match.group(1))


def test_every_procfile_process_runs_its_procfile_command(compose):
    commands = procfile.commands(required=APP_SERVICES)
    services = compose["services"]
    for name in APP_SERVICES:
        assert services[name]["command"] == commands[name], f"compose service {name} drifted from the Procfile"


def test_backing_services_are_postgres_16_and_redis_7_published_on_loopback_only(compose):
    services = compose["services"]
    assert services["db"]["image"].startswith("postgres:16")
    assert services["redis"]["image"].startswith("redis:7")
    for name in ("db", "redis"):
        for port in services[name]["ports"]:
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"
        assert services[name]["healthcheck"]["test"], f"{name} needs a healthcheck for depends_on"


def test_processes_share_one_image_and_run_like_ecs(compose):
    services = compose["services"]
    for name in APP_SERVICES:
        service = services[name]
        assert service["image"] == "keel-app" and service["build"]["context"] == "."
        assert service["platform"] == "linux/amd64"
        assert service["user"] == "10001:10001"
        # Read-only root with a writable /tmp, as ECS runs the tasks: nothing may write elsewhere.
        assert service["read_only"] is True and "/tmp" in service["tmpfs"]


def test_release_gates_web_worker_and_beat(compose):
    services = compose["services"]
    assert services["release"]["restart"] == "no"
    assert {"db", "redis"} <= set(services["release"]["depends_on"])
    for name in ("web", "worker", "beat"):
        assert services[name]["depends_on"]["release"]["condition"] == "service_completed_successfully"


def test_every_variable_the_stack_injects_has_a_local_value(compose):
    injected = [var.name for var in contract.CONTRACT if var.source == "stack"]
    for name in APP_SERVICES:
        environment = compose["services"][name]["environment"]
        missing = [var for var in injected if var not in environment]
        assert not missing, f"compose service {name} lacks {missing} (the stack sets them on AWS)"
        unknown = [var for var in environment if var not in contract.BY_NAME]
        assert not unknown, f"compose service {name} sets {unknown}, which the app never reads"


def test_local_values_satisfy_the_contract(compose):
    from config.env import load

    for name in APP_SERVICES:
        environment = {key: re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", str(value))  # compose's ${VAR:-default}
                       for key, value in compose["services"][name]["environment"].items()}
        values = load(environment)  # raises ConfigError naming every bad variable
        assert values["DATABASE_URL"].startswith("postgres://") and "@db:5432/" in values["DATABASE_URL"]
        assert "//redis:6379/" in values["REDIS_URL"] and "//redis:6379/" in values["CELERY_BROKER_URL"]


def test_stop_grace_periods_cover_the_drains(compose):
    services = compose["services"]
    assert seconds(services["web"]["stop_grace_period"]) > contract.WEB_GRACEFUL_TIMEOUT
    assert seconds(services["worker"]["stop_grace_period"]) > contract.WORKER_SOFT_SHUTDOWN_TIMEOUT
