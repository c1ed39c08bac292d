"""bin/dev, the one local run command: it says which service is down and how to start it."""

from __future__ import annotations

import subprocess

import pytest

from .helpers import REPO_ROOT, app_env, free_port


def run_dev(**changes: str | None) -> subprocess.CompletedProcess:
    env = app_env(KEEL_DEV_SKIP_SYNC="1", **changes)
    return subprocess.run([str(REPO_ROOT / "bin" / "dev")], env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(("variable", "service", "url", "compose_service"), [
    ("DATABASE_URL", "Postgres", "postgres://postgres:pw-not-shown@127.0.0.1:{port}/keel", "db"),
    ("REDIS_URL", "Redis", "redis://:pw-not-shown@127.0.0.1:{port}/0", "redis"),
])
def test_an_unreachable_service_is_named_with_how_to_start_it(variable, service, url, compose_service):
    url = url.format(port=free_port())  # nothing listens there
    result = run_dev(**{variable: url})

    assert result.returncode == 1
    assert f"dev: cannot reach {service} at {url.replace('pw-not-shown', '***')}" in result.stderr
    assert f"docker compose up -d {compose_service}" in result.stderr
    assert f"point {variable} at a running server" in result.stderr
    assert "pw-not-shown" not in result.stderr  # the password never reaches the terminal
    assert "Traceback" not in result.stderr


def test_dot_env_is_read_but_the_shell_wins(tmp_path):
    # A copy of the repository's shape, so the test never touches the real .env at the root.
    (tmp_path / "bin").mkdir()
    for script in ("dev", "local-env"):
        (tmp_path / "bin" / script).write_bytes((REPO_ROOT / "bin" / script).read_bytes())
        (tmp_path / "bin" / script).chmod(0o755)
    (tmp_path / ".venv").symlink_to(REPO_ROOT / ".venv")
    from_file = f"postgres://postgres@127.0.0.1:{free_port()}/from_dotenv"
    (tmp_path / ".env").write_text(f'DATABASE_URL="{from_file}"\nexport REDIS_URL=redis://127.0.0.1:{free_port()}/0\n')

    def run(**changes):
        env = app_env(KEEL_DEV_SKIP_SYNC="1", **changes)
        return subprocess.run([str(tmp_path / "bin" / "dev")], env=env, capture_output=True, text=True, timeout=60)

    assert f"cannot reach Postgres at {from_file}" in run(DATABASE_URL=None).stderr
    from_shell = f"postgres://postgres@127.0.0.1:{free_port()}/from_shell"
    assert f"cannot reach Postgres at {from_shell}" in run(DATABASE_URL=from_shell).stderr


def test_bin_manage_uses_the_same_configuration_as_bin_dev(tmp_path):
    # bin/manage sources bin/local-env, as bin/dev does: .env is read and the shell wins.
    (tmp_path / "bin").mkdir()
    for script in ("manage", "local-env"):
        (tmp_path / "bin" / script).write_bytes((REPO_ROOT / "bin" / script).read_bytes())
        (tmp_path / "bin" / script).chmod(0o755)
    (tmp_path / ".venv").symlink_to(REPO_ROOT / ".venv")
    (tmp_path / "app").symlink_to(REPO_ROOT / "app")
    (tmp_path / ".env").write_text("LOG_LEVEL=WARNING\nDOCUMENT_RETENTION_DAYS=7\n")
    show = "from django.conf import settings; print(settings.DEBUG, settings.DOCUMENT_RETENTION_DAYS)"

    def run(**changes):
        env = app_env(**{"DJANGO_DEBUG": None, "DOCUMENT_RETENTION_DAYS": None, **changes})
        return subprocess.run([str(tmp_path / "bin" / "manage"), "shell", "--no-imports", "-c", show],
                              env=env, capture_output=True, text=True, timeout=60)

    assert run().stdout.split() == ["True", "7"]  # local default DJANGO_DEBUG=true, .env's retention
    assert run(DOCUMENT_RETENTION_DAYS="3").stdout.split() == ["True", "3"]  # the shell wins
