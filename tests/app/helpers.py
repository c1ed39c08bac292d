"""Helpers shared by the app tests: run the app's own commands as real subprocesses."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

REPO_ROOT = Path(__file__).resolve().parents[2]
APP_DIR = REPO_ROOT / "app"
VENV_BIN = Path(sys.executable).parent


def app_env(**changes: str | None) -> dict[str, str]:
    """The test environment with ``changes`` applied (None removes a variable), app/ importable."""
    env = dict(os.environ)
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env["PYTHONPATH"] = str(APP_DIR)
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def run_app(args: list[str], env: dict[str, str], timeout: float = 60, **kwargs) -> subprocess.CompletedProcess:
    """Run a command with cwd app/, as every Procfile process does."""
    return subprocess.run(args, cwd=APP_DIR, env=env, capture_output=True, text=True, timeout=timeout, **kwargs)


def manage(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    return run_app([sys.executable, "manage.py", *args], env, timeout)


@contextmanager
def fresh_database(template: str | None = None) -> Iterator[str]:
    """The URL of a new database on the test server (empty, or a copy of ``template``), dropped afterwards."""
    import psycopg

    base = urlsplit(os.environ["DATABASE_URL"])
    name = f"{base.path.strip('/')}_{uuid.uuid4().hex[:8]}"
    admin = urlunsplit(base._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    try:
        yield urlunsplit(base._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def image_manage(history: str, *args: str, database_url: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """manage.py of the app as an image carrying ``history`` of the documents app's migrations
    (tests/app/migration_sets; tests/app/image_settings.py), on the database at ``database_url``."""
    env = app_env(DATABASE_URL=database_url, DJANGO_SETTINGS_MODULE="tests.app.image_settings",
                  KEEL_TEST_IMAGE=history)
    env["PYTHONPATH"] = os.pathsep.join([str(APP_DIR), str(REPO_ROOT)])
    return manage(*args, env=env, timeout=timeout)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"process exited early with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"nothing listened on port {port} within {timeout} s")


def json_lines(text: str) -> list[dict]:
    """Every non-empty line parsed as JSON (fails the test on any line that is not)."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@contextlib.contextmanager
def web_process(**changes: str | None):
    """The web process (gunicorn, one worker) on a free port; yields (base URL, its output so far)."""
    port = free_port()
    env = app_env(PORT=str(port), WEB_CONCURRENCY="1", DATABASE_URL=shared_test_database_url(), **changes)
    process = subprocess.Popen([sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py"], cwd=APP_DIR,
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output: list[str] = []
    reader = threading.Thread(target=lambda: output.extend(process.stdout), daemon=True)
    reader.start()
    try:
        wait_for_port(port, process)
        yield f"http://127.0.0.1:{port}", output
    finally:
        process.terminate()
        process.wait(timeout=60)
        reader.join(timeout=10)


def shared_test_database_url() -> str:
    """DATABASE_URL naming pytest-django's test database, so the web process sees the test's user."""
    from django.db import connection

    return urlsplit(os.environ["DATABASE_URL"])._replace(path="/" + connection.settings_dict["NAME"]).geturl()


def moto_server():
    """A moto server on a free loopback port for the duration of a ``yield from`` fixture: its endpoint URL."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()
