"""The release phase (Procfile ``release``): apply migrations, one release at a time.

``migrate --noinput`` runs while this process holds a Postgres advisory lock, so two
releases started together (a retried deploy, two stacks sharing a database) never migrate
concurrently: the second waits, logging that it does, then finds nothing left to apply.
Any failure exits non-zero, which stops the deploy before new code serves traffic.

Before it migrates, the release refuses migrations that would break the version still serving
during the rolling deploy (``core.migration_safety``): one log line per problem, nothing applied.
"""

from __future__ import annotations

import io
import logging
import time
from contextlib import contextmanager

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from core.management.commands.migration_safety import unsafe_pending

logger = logging.getLogger("keel.release")

# Session-level advisory lock key: any constant shared by every release of this app ("keel").
RELEASE_LOCK_KEY = 0x6B65656C
WAIT_LOG_INTERVAL = 10.0


def _try_lock(cursor) -> bool:
    cursor.execute("SELECT pg_try_advisory_lock(%s)", [RELEASE_LOCK_KEY])
    return bool(cursor.fetchone()[0])


class LogLines(io.TextIOBase):
    """A text stream that logs each complete line, so migrate's progress is JSON on stdout too."""

    def __init__(self, log: logging.Logger):
        self._log, self._pending = log, ""

    def write(self, text: str) -> int:
        self._pending += text
        *lines, self._pending = self._pending.split("\n")
        for line in filter(str.strip, lines):
            self._log.info(line.strip())
        return len(text)

    def flush(self) -> None:
        if self._pending.strip():
            self._log.info(self._pending.strip())
        self._pending = ""


@contextmanager
def release_lock():
    """Hold the release advisory lock; log when another release holds it and how long we waited."""
    started = time.monotonic()
    with connection.cursor() as cursor:
        if not _try_lock(cursor):
            logger.info("release: another release holds the migration lock; waiting for it",
                        extra={"lock_key": RELEASE_LOCK_KEY})
            last_log = started
            while not _try_lock(cursor):
                time.sleep(0.5)
                if time.monotonic() - last_log >= WAIT_LOG_INTERVAL:
                    last_log = time.monotonic()
                    logger.info("release: still waiting for the migration lock",
                                extra={"waited_s": round(last_log - started, 1)})
        logger.info("release: migration lock acquired",
                    extra={"lock_key": RELEASE_LOCK_KEY, "waited_s": round(time.monotonic() - started, 3)})
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [RELEASE_LOCK_KEY])


class UnsafeMigrations(Exception):
    """Migrations that would break the serving version; the message lists their rules."""


def refuse_unsafe_migrations() -> None:
    """Log and raise if a pending migration would break the version still serving."""
    found = unsafe_pending()
    if found is None:
        logger.info("release: first release on this database, every migration may run")
        return
    checked, problems = found
    for problem in problems:
        logger.error("release: unsafe migration: %s", problem.line())
    if problems:
        raise UnsafeMigrations(", ".join(f"{p.migration} {p.code}" for p in problems) +
                               " would break the version still serving (see docs/migrations.md)")
    logger.info("release: migrations are backwards compatible", extra={"checked": len(checked)})


class Command(BaseCommand):
    help = "Release phase: run migrations under a Postgres advisory lock; non-zero exit on any error."

    def handle(self, *args, **options) -> None:
        started = time.monotonic()
        try:
            with release_lock():
                refuse_unsafe_migrations()
                output = LogLines(logger)
                call_command("migrate", interactive=False, verbosity=options["verbosity"], stdout=output)
                output.flush()
        except UnsafeMigrations as exc:
            raise CommandError(f"release refused: {exc}") from None
        except Exception as exc:
            logger.error("release: failed: %s: %s", type(exc).__name__, exc)
            raise CommandError(f"release failed: {type(exc).__name__}: {exc}") from exc
        logger.info("release: done", extra={"duration_s": round(time.monotonic() - started, 3)})
