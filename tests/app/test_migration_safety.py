"""Migration safety: what the release gate and CI refuse, judged from the SQL on the real Postgres.

Each history in ``migration_sets/`` stands in for the ``documents`` app (MIGRATION_MODULES): its
0001 has the same name as the real, already applied ``documents.0001_initial``, so the test
database sees it as shipped and the later migrations as what the next deploy would apply.
"""

from __future__ import annotations

import pytest
from core import migration_safety as safety
from core.management.commands import migration_safety as command
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import override_settings

pytestmark = pytest.mark.django_db

SETS = "tests.app.migration_sets"


def problems_in(history: str) -> list[safety.Problem]:
    with override_settings(MIGRATION_MODULES={"documents": f"{SETS}.{history}"}):
        checked, found = command.unsafe_pending()
    assert checked, f"{history}: nothing was pending, the test would prove nothing"
    return found


@pytest.mark.parametrize(("history", "code"), [
    ("drop_column", "DROP_COLUMN"),
    ("rename_column", "RENAME_COLUMN"),
    ("delete_model", "DROP_TABLE"),
    ("not_null", "NOT_NULL"),
    ("alter_type", "ALTER_COLUMN"),
    ("data_no_reverse", "RUNPYTHON_REVERSIBLE"),
    ("contract_same_release", "CONTRACT_TOO_EARLY"),
])
def test_a_migration_that_breaks_the_serving_version_is_refused(history, code):
    found = problems_in(history)

    assert [p.code for p in found] == [code]
    line = found[0].line()
    assert line.startswith("documents.0002_" if history != "contract_same_release" else "documents.0003_")
    assert any(fix in line for fix in ("contract_after", "earlier release", "db_default", "reverse_code"))


@pytest.mark.parametrize("history", ["nullable", "db_default", "data_reverse", "contract_shipped"])
def test_a_backwards_compatible_migration_passes(history):
    assert problems_in(history) == []


def test_the_pending_migrations_are_what_migrate_would_apply():
    with override_settings(MIGRATION_MODULES={"documents": f"{SETS}.contract_same_release"}):
        loader = safety.loader_for()
        names = [m.name for m in safety.pending(loader) if m.app_label == "documents"]
    assert names == ["0002_widget_name", "0003_remove_widget_title"]


def test_the_command_prints_one_line_per_problem_and_fails(capsys):
    with override_settings(MIGRATION_MODULES={"documents": f"{SETS}.drop_column"}):
        with pytest.raises(CommandError, match="1 migration problem"):
            call_command("migration_safety")
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("documents.0002_remove_widget_title: DROP_COLUMN:")
    assert "documents_widget" in err[0]


def test_the_release_refuses_an_unsafe_migration_and_applies_nothing(capsys):
    with override_settings(MIGRATION_MODULES={"documents": f"{SETS}.drop_column"}):
        with pytest.raises(CommandError, match="DROP_COLUMN"):
            call_command("release")
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM django_migrations WHERE app = 'documents'")
        assert [row[0] for row in cursor.fetchall()] == ["0001_initial"]


def test_since_checks_only_the_files_a_change_adds(monkeypatch):
    monkeypatch.setattr(command, "files_added_since",
                        lambda rev: ["tests/app/migration_sets/contract_same_release/0003_remove_widget_title.py"])
    with override_settings(MIGRATION_MODULES={"documents": f"{SETS}.contract_same_release"}):
        checked, found = command.unsafe_since("HEAD")
    # 0002 is older than the change, so it shipped: the contract step may follow it.
    assert [m.name for m in checked] == ["0003_remove_widget_title"] and found == []


def test_since_reads_git_for_the_added_migrations():
    # This repository's own history: the initial migration was added long before HEAD.
    assert command.files_added_since("HEAD") == []
    with pytest.raises(CommandError, match="--since no-such-revision"):
        command.files_added_since("no-such-revision")


def test_this_projects_own_migrations_are_reversible_or_marked():
    loader = safety.loader_for()
    ours = [m for key, m in loader.graph.nodes.items() if key[0] in ("documents", "core")]
    assert ours and all(safety.reversible(m) for m in ours)


def test_keel_check_runs_the_migration_check_through_bin_manage(monkeypatch):
    """`keel check --migrations-since REV`: the real bin/manage on this checkout (nothing unsafe added)."""
    import io

    from .helpers import shared_test_database_url

    monkeypatch.setenv("DATABASE_URL", shared_test_database_url())
    from keel.cli import main
    from keel.cli.context import Context

    out = io.StringIO()
    code = main(["check", "--stack", "dev", "--migrations-since", "HEAD"], Context(stdout=out, stderr=io.StringIO()))
    assert code == 0
    assert "MIGRATIONS (added since HEAD)" in out.getvalue()
    assert "0 migration(s) checked, all backwards compatible" in out.getvalue()


def test_keel_check_fails_when_the_migration_check_does():
    import io
    import subprocess

    from keel.cli import main
    from keel.cli.context import Context

    line = "documents.0002_remove_widget_title: DROP_COLUMN: drops a column the version still serving reads"

    def manage(command, **kwargs):
        assert command[1:] == ["migration_safety", "--since", "origin/main"]
        return subprocess.CompletedProcess(command, 1, "", line + "\n")

    out = io.StringIO()
    code = main(["check", "--stack", "dev", "--migrations-since", "origin/main"],
                Context(stdout=out, stderr=io.StringIO(), run_process=manage))
    assert code == 1 and line in out.getvalue()


def test_since_sees_a_new_migration_git_does_not_track_yet(tmp_path):
    """Right after makemigrations the file is untracked: it is what the next deploy applies."""
    import subprocess

    def git(*args):
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "app" / "documents" / "migrations").mkdir(parents=True)
    (tmp_path / "app" / "documents" / "migrations" / "0001_initial.py").write_text("")
    git("add", "-A")
    git("-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qm", "first")
    (tmp_path / "app" / "documents" / "migrations" / "0002_new.py").write_text("")

    assert command.files_added_since("HEAD", tmp_path) == ["app/documents/migrations/0002_new.py"]


def test_a_waived_rule_passes_and_the_fix_named_fits_the_rule():
    with override_settings(MIGRATION_MODULES={"documents": f"{SETS}.alter_type_waived"}):
        checked, found = command.unsafe_pending()
    assert checked and found == []
    (not_null,) = problems_in("not_null")
    assert not_null.line().endswith("give the column a db_default (or make it nullable)")
    (data,) = problems_in("data_no_reverse")
    assert "reverse_code (migrations.RunPython.noop" in data.line()
