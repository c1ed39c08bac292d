"""``manage.py migration_safety``: refuse migrations that break the version still serving.

    python manage.py migration_safety              what `migrate` would apply to DATABASE_URL's database
    python manage.py migration_safety --since REV  the migration files a change adds since git REV (CI)

One line per problem, naming the migration, the rule and the fix; exit 1 if there is any. The
release phase runs the first form before it migrates (``core.migration_safety`` has the rules).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import OperationalError

from core import migration_safety as safety

REPO_ROOT = Path(__file__).resolve().parents[4]


def files_added_since(revision: str, root: Path = REPO_ROOT) -> list[str]:
    """Migration files added since ``revision``: committed or staged since then, or not yet in git at all
    (a fresh `makemigrations`), as paths relative to the repository."""
    pattern = "*/migrations/*.py"
    try:
        added = _git(root, "diff", "--name-only", "--diff-filter=A", revision, "--", pattern)
        untracked = _git(root, "ls-files", "--others", "--exclude-standard", "--", pattern)
    except (OSError, subprocess.CalledProcessError) as error:
        detail = getattr(error, "stderr", "") or str(error)
        raise CommandError(f"--since {revision}: git could not list the added migrations: {detail.strip()}") \
            from None
    return [line for line in dict.fromkeys(added + untracked) if not line.endswith("__init__.py")]


def _git(root: Path, *args: str) -> list[str]:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True).stdout.splitlines()


class Command(BaseCommand):
    help = "Refuse migrations that would break the version still serving during a rolling deploy."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--since", metavar="REV",
                            help="check the migration files added since this git revision instead of "
                                 "the database's unapplied migrations")

    def handle(self, *args, since: str | None = None, **options) -> None:
        try:
            found = unsafe_since(since) if since else unsafe_pending()
        except OperationalError as error:  # sqlmigrate and the applied list need the database
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise CommandError(f"cannot reach DATABASE_URL's database ({first}): start it (bin/services, bin/dev)") \
                from None
        if found is None:
            self.stdout.write("migration_safety: the database has no migration applied yet: nothing old is "
                              "serving, every migration may run")
            return
        migrations, problems = found
        for problem in problems:
            self.stderr.write(problem.line())
        if problems:
            raise CommandError(f"{len(problems)} migration problem(s): see the lines above")
        self.stdout.write(f"migration_safety: {len(migrations)} migration(s) checked, all backwards compatible")


def unsafe_pending():
    """(checked, problems) for what `migrate` would apply now; None when nothing is applied yet."""
    loader = safety.loader_for()
    if not loader.applied_migrations:
        return None
    migrations = safety.pending(loader)
    return migrations, safety.problems(migrations, shipped=set(loader.applied_migrations))


def unsafe_since(revision: str):
    """(checked, problems) for the migration files added since ``revision``."""
    loader = safety.loader_for()
    migrations = safety.added_since(loader, files_added_since(revision))
    added = {safety.migration_key(m) for m in migrations}
    return migrations, safety.problems(migrations, shipped=set(loader.graph.nodes) - added)
