"""The release process: migrations under an advisory lock, non-zero exit on any failure."""

from __future__ import annotations

import subprocess
import sys
import time

import psycopg
import pytest

from .helpers import APP_DIR, app_env, free_port, fresh_database, json_lines, manage

RELEASE_LOCK_KEY = 0x6B65656C


@pytest.fixture(scope="module")
def fresh_database_url():
    """A new, empty database on the test server, dropped afterwards."""
    with fresh_database() as url:
        yield url


def applied_migrations(url: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT count(*) FROM django_migrations").fetchone()[0]


def migrated(url: str) -> bool:
    try:
        return applied_migrations(url) > 0
    except psycopg.errors.UndefinedTable:
        return False


def test_release_migrates_an_empty_database_and_logs_json(fresh_database_url):
    result = manage("release", env=app_env(DATABASE_URL=fresh_database_url))

    assert result.returncode == 0, result.stderr
    assert applied_migrations(fresh_database_url) > 0
    messages = [line["message"] for line in json_lines(result.stdout)]
    assert "release: migration lock acquired" in messages
    assert any(message.startswith("Applying documents.0001") for message in messages)
    assert messages[-1] == "release: done"


def test_a_second_release_waits_for_the_lock_then_finds_nothing_to_do(fresh_database_url):
    if not migrated(fresh_database_url):  # this test alone: start from a released database
        manage("release", env=app_env(DATABASE_URL=fresh_database_url))
    with psycopg.connect(fresh_database_url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", [RELEASE_LOCK_KEY])  # another release is running
        release = subprocess.Popen(
            [sys.executable, "manage.py", "release"], cwd=APP_DIR, env=app_env(DATABASE_URL=fresh_database_url),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        seen = ""
        while "waiting" not in seen and release.poll() is None:
            seen += release.stdout.readline()  # blocks until the release reports the wait
        time.sleep(0.5)
        assert release.poll() is None  # still waiting while the lock is held
        holder.execute("SELECT pg_advisory_unlock(%s)", [RELEASE_LOCK_KEY])
    stdout, stderr = release.communicate(timeout=60)

    assert release.returncode == 0, stderr
    assert "another release holds the migration lock; waiting" in seen
    messages = [line["message"] for line in json_lines(seen + stdout)]
    assert messages.index("release: migration lock acquired") > 0
    assert "No migrations to apply." in messages


def test_release_fails_non_zero_when_the_database_is_unreachable():
    url = f"postgres://postgres@127.0.0.1:{free_port()}/keel"
    result = manage("release", env=app_env(DATABASE_URL=url))

    assert result.returncode != 0
    assert "release failed: OperationalError" in result.stderr
    assert "Traceback" not in result.stderr
