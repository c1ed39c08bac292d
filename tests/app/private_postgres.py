"""A throwaway PostgreSQL cluster that checks passwords (the shared one trusts everyone).

``initdb`` into a temporary directory with SCRAM-SHA-256 for TCP connections and trust only on
its own Unix socket (for the test's admin statements), started with ``pg_ctl`` on a free loopback
port. The binaries are found at run time: ``pg_config --bindir``, then PATH, then Debian's
versioned directories. PostgreSQL refuses to run as root, so as root it runs as ``postgres``.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from .helpers import free_port

SERVER_USER = "postgres"  # the account that runs the server when the tests run as root
DEBIAN_BINDIRS = "/usr/lib/postgresql"


def postgres_bindir() -> Path | None:
    """The directory holding initdb and pg_ctl, or None when PostgreSQL's server is not installed."""
    candidates = []
    if shutil.which("pg_config"):
        found = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True).stdout.strip()
        candidates.append(Path(found))
    if shutil.which("initdb"):
        candidates.append(Path(shutil.which("initdb")).resolve().parent)
    candidates += sorted(Path(DEBIAN_BINDIRS).glob("*/bin"), reverse=True)
    for directory in candidates:
        if (directory / "initdb").exists() and (directory / "pg_ctl").exists():
            return directory
    return None


def unavailable_reason() -> str | None:
    """Why a private cluster cannot be started here, or None."""
    if postgres_bindir() is None:
        return "PostgreSQL server binaries (initdb, pg_ctl) not found via pg_config, PATH or /usr/lib/postgresql"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SERVER_USER)
        except KeyError:
            return f"running as root and there is no {SERVER_USER!r} account to run PostgreSQL as"
    return None


@dataclass
class PrivatePostgres:
    bindir: Path
    datadir: Path
    port: int

    @classmethod
    def start(cls) -> PrivatePostgres:
        datadir = Path(tempfile.mkdtemp(prefix="keel-pg-"))
        server = cls(postgres_bindir(), datadir, free_port())
        if os.geteuid() == 0:
            owner = pwd.getpwnam(SERVER_USER)
            os.chown(datadir, owner.pw_uid, owner.pw_gid)
        server._run("initdb", "-D", str(datadir), "-U", SERVER_USER, "--auth-local=trust",
                    "--auth-host=scram-sha-256", "--no-sync", "-E", "UTF8")
        options = (f"-c listen_addresses=127.0.0.1 -p {server.port} -c unix_socket_directories={datadir} "
                   "-c password_encryption=scram-sha-256 -c fsync=off -c max_connections=20")
        server._run("pg_ctl", "-D", str(datadir), "-o", options, "-l", str(datadir / "server.log"), "-w", "start")
        return server

    def _run(self, program: str, *args: str) -> None:
        user = SERVER_USER if os.geteuid() == 0 else None
        result = subprocess.run([str(self.bindir / program), *args], capture_output=True, text=True,
                                user=user, timeout=60)
        if result.returncode != 0:
            raise RuntimeError(f"{program} failed ({result.returncode}): {result.stderr or result.stdout}")

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.datadir), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.datadir, ignore_errors=True)

    def admin(self, statement: sql.Composable | str) -> None:
        """Run one statement as the superuser over the Unix socket (trusted, unlike TCP)."""
        with psycopg.connect(host=str(self.datadir), port=self.port, user=SERVER_USER, dbname="postgres",
                             autocommit=True) as connection:
            connection.execute(statement)

    def set_password(self, role: str, password: str) -> None:
        self.admin(sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(role), sql.Literal(password)))

    def create_login(self, role: str, password: str, database: str) -> None:
        self.admin(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(role), sql.Literal(password)))
        self.admin(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(database), sql.Identifier(role)))

    def url(self, user: str, password: str, database: str) -> str:
        return f"postgres://{user}:{password}@127.0.0.1:{self.port}/{database}"
