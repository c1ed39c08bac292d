"""Backing services the bench owns: a private Redis, a private Postgres, an S3 test server.

The shared Postgres (127.0.0.1:5432) and Redis (6379) belong to the whole team and are never
stopped; outage drills and everything Redis use the private servers started here instead, each
on its own loopback port, and stopped again at the end.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from bench import harness

SHARED_PG = "postgres://postgres@127.0.0.1:5432"
DATABASE = "keel_bench"
POSTGRES_USER = "postgres"  # initdb and postgres refuse to run as root


def _pg_bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True):
        return str(candidate)
    raise RuntimeError(f"{name} not found: install Debian's postgresql package")


def psql(url: str, sql: str) -> str:
    """Run SQL with psql against ``url``; its output (raises on error)."""
    out = subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-qAtc", sql],
                         capture_output=True, text=True, timeout=30)
    if out.returncode:
        raise RuntimeError(f"psql failed: {out.stderr.strip()}")
    return out.stdout.strip()


def recreate_database(server_url: str, name: str) -> str:
    """Drop and create database ``name`` on ``server_url``; its URL."""
    psql(f"{server_url}/postgres", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    psql(f"{server_url}/postgres", f'CREATE DATABASE "{name}"')
    return f"{server_url}/{name}"


@dataclass
class PrivateRedis:
    """redis-server on its own loopback port, no persistence; stop/start keep the port."""

    port: int = field(default_factory=harness.free_port)
    proc: harness.Proc | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self) -> None:
        argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", str(harness.WORK)]
        self.proc = harness.start("redis", argv)
        if harness.wait_until(self.ping, timeout=10) is None:
            raise RuntimeError(f"private redis did not start; see {self.proc.log}")

    def ping(self) -> bool:
        out = subprocess.run(["redis-cli", "-p", str(self.port), "ping"], capture_output=True, text=True)
        return out.stdout.strip() == "PONG"

    def stop(self) -> None:
        if self.proc:
            self.proc.stop(signal.SIGTERM)

    def cli(self, *args: str) -> str:
        out = subprocess.run(["redis-cli", "-p", str(self.port), *args], capture_output=True, text=True)
        return out.stdout.strip()


@dataclass
class PrivatePostgres:
    """A throwaway cluster (initdb into bench/work) on its own loopback port, run as ``postgres``."""

    port: int = field(default_factory=harness.free_port)
    datadir: Path = harness.WORK / "pgdata"
    proc: harness.Proc | None = None

    @property
    def server_url(self) -> str:
        return f"postgres://{POSTGRES_USER}@127.0.0.1:{self.port}"

    def init(self) -> None:
        shutil.rmtree(self.datadir, ignore_errors=True)
        self.datadir.mkdir(parents=True)
        owner = pwd.getpwnam(POSTGRES_USER)
        for path in (self.datadir,):
            os.chown(path, owner.pw_uid, owner.pw_gid)
        subprocess.run([_pg_bin("initdb"), "-D", str(self.datadir), "-A", "trust", "-U", POSTGRES_USER,
                        "--no-sync"], check=True, capture_output=True, user=POSTGRES_USER)

    def start(self) -> None:
        argv = [_pg_bin("postgres"), "-D", str(self.datadir), "-p", str(self.port),
                "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.datadir}",
                "-c", "fsync=off", "-c", "max_connections=200"]
        self.proc = harness.start("postgres", argv, user=POSTGRES_USER)
        if harness.wait_until(self.ready, timeout=20, interval=0.1) is None:
            raise RuntimeError(f"private postgres did not start; see {self.proc.log}")

    def ready(self) -> bool:
        out = subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1", "-p", str(self.port)], capture_output=True)
        return out.returncode == 0

    def stop(self) -> None:
        if self.proc:
            self.proc.stop(signal.SIGINT, timeout=20)  # SIGINT: fast shutdown, clients disconnected

    def remove(self) -> None:
        shutil.rmtree(self.datadir, ignore_errors=True)


@dataclass
class S3Server:
    """moto's S3 server on loopback: the production settings need a media bucket."""

    port: int = field(default_factory=harness.free_port)
    proc: harness.Proc | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, bucket: str) -> None:
        moto = Path(sys.executable).parent / "moto_server"
        self.proc = harness.start("moto", [str(moto), "-H", "127.0.0.1", "-p", str(self.port)])
        if harness.wait_until(lambda: harness.http_get(self.port, "/") is not None, timeout=20, interval=0.1) is None:
            raise RuntimeError(f"moto server did not start; see {self.proc.log}")
        harness.http_put(self.port, f"/{bucket}")

    def stop(self) -> None:
        if self.proc:
            self.proc.stop()
