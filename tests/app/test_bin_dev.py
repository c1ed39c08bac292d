"""bin/dev, the one local run command: it says which service is down and how to start it."""

from __future__ import annotations

import subprocess

from .helpers import REPO_ROOT, app_env, free_port


def run_dev(**changes: str | None) -> subprocess.CompletedProcess:
    env = app_env(KEEL_DEV_SKIP_SYNC="1", **changes)
    return subprocess.run([str(REPO_ROOT / "bin" / "dev")], env=env, capture_output=True, text=True, timeout=60)


def test_unreachable_postgres_is_named_with_how_to_start_it():
    url = f"postgres://postgres:pw-not-shown@127.0.0.1:{free_port()}/keel"
    result = run_dev(DATABASE_URL=url)

    assert result.returncode == 1
    assert f"dev: cannot reach Postgres at {url.replace('pw-not-shown', '***')}" in result.stderr
    assert "docker compose up -d db" in result.stderr
    assert "pw-not-shown" not in result.stderr
    assert "Traceback" not in result.stderr


def test_unreachable_redis_is_named_with_how_to_start_it():
    url = f"redis://127.0.0.1:{free_port()}/0"
    result = run_dev(REDIS_URL=url)

    assert result.returncode == 1
    assert f"dev: cannot reach Redis at {url}" in result.stderr
    assert "docker compose up -d redis" in result.stderr
