"""Which migrations would break the version still serving during a rolling deploy.

A rolling deploy runs the old code against the new schema for minutes: ECS keeps old tasks
serving until new ones pass their health checks, and ``worker``/``beat`` move one task at a
time. So a migration must be *backwards compatible*: the old code must keep working after it.
The SQL each migration runs is read with ``sqlmigrate`` on the real database connection and
judged by django-migration-linter's PostgreSQL analyser (a well-kept linter that reads the SQL
Django will run rather than guessing from operation names, so a ``RunSQL`` is judged too):

- DROP_COLUMN, DROP_TABLE, RENAME_COLUMN, RENAME_TABLE: the old code still reads them;
- NOT_NULL: a NOT NULL column without a database default; the old code's INSERTs omit it;
- ALTER_COLUMN: a type change; the old code reads and writes the old type;
- ADD_UNIQUE: rows the old code still writes may violate it;
- RUNPYTHON_REVERSIBLE, RUNSQL_REVERSIBLE: a data migration without a reverse; neither a
  rollback (``keel rollback --migrate-back``) nor ``migrate`` backwards can undo it.

A deliberate two-step change (expand, then contract in a later release) marks its contract step::

    class Migration(migrations.Migration):
        # Keel: drops the column 0004 stopped using; 0004 shipped first.
        contract_after = [("documents", "0004_stop_reading_title")]

A migration the rules misjudge (widening a varchar is metadata-only on Postgres, yet a type change
to the analyser) says so, with the reason, and the rule is waived for it alone::

    class Migration(migrations.Migration):
        backwards_compatible = ["ALTER_COLUMN"]  # varchar(100) -> varchar(200): old code still fits

The contract step passes only when every migration it names shipped in an *earlier* release:
already applied to the database being released (the release gate), or older than the change
being checked (``--since`` in CI). On a database with no migration applied yet nothing old is
serving, so nothing is refused.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations import Migration, RunPython, RunSQL
from django.db.migrations.loader import MigrationLoader

# The linter's codes that break the version still serving (its "errors"), and the data-migration
# warnings we treat as errors: a migration without a reverse cannot be rolled back.
IRREVERSIBLE = ("RUNPYTHON_REVERSIBLE", "RUNSQL_REVERSIBLE")
WHY = {
    "DROP_COLUMN": "drops a column the version still serving reads",
    "DROP_TABLE": "drops a table the version still serving reads",
    "RENAME_COLUMN": "renames a column the version still serving reads",
    "RENAME_TABLE": "renames a table the version still serving reads",
    "NOT_NULL": "adds a NOT NULL column without a database default (db_default); the serving version's "
                "inserts omit it",
    "ALTER_COLUMN": "changes a column's type under the version still serving",
    "ADD_UNIQUE": "adds a unique constraint that rows the serving version writes may violate",
    "RUNPYTHON_REVERSIBLE": "is a data migration without reverse_code, so no rollback can undo it",
    "RUNSQL_REVERSIBLE": "runs SQL without reverse_sql, so no rollback can undo it",
}
# How to fix each rule; the rest split into expand and contract.
FIXES = {
    "NOT_NULL": "give the column a db_default (or make it nullable)",
    "RUNPYTHON_REVERSIBLE": "give RunPython a reverse_code (migrations.RunPython.noop when nothing needs undoing)",
    "RUNSQL_REVERSIBLE": "give RunSQL a reverse_sql (migrations.RunSQL.noop when nothing needs undoing)",
}
FIX = ("make it backwards compatible, or split it: ship the code that stops using the old schema first, "
       "then this change in a later release marked contract_after (docs/migrations.md)")
CONTRACT_FIX = "ship {expand} in an earlier release first; a contract step cannot ship with its expand step"


@dataclass(frozen=True)
class Problem:
    """One reason one migration is unsafe to apply while the previous version serves."""

    migration: str  # "app_label.name"
    code: str
    detail: str

    def line(self) -> str:
        return f"{self.migration}: {self.code}: {self.detail}"


def migration_key(migration: Migration) -> tuple[str, str]:
    return migration.app_label, migration.name


def label(key: tuple[str, str]) -> str:
    return f"{key[0]}.{key[1]}"


def loader_for(database: str = DEFAULT_DB_ALIAS) -> MigrationLoader:
    """The project's migration graph and the migrations ``database`` has applied."""
    return MigrationLoader(connections[database], ignore_no_migrations=True)


def pending(loader: MigrationLoader) -> list[Migration]:
    """The migrations ``migrate`` would apply, in the order it would apply them."""
    targets = loader.graph.leaf_nodes()
    seen: list[tuple[str, str]] = []
    for target in targets:
        for key in loader.graph.forwards_plan(target):
            if key not in loader.applied_migrations and key not in seen:
                seen.append(key)
    return [loader.graph.nodes[key] for key in seen]


def added_since(loader: MigrationLoader, paths: Iterable[str]) -> list[Migration]:
    """The migrations whose files are among ``paths`` (e.g. what git says a change adds)."""
    wanted = {os.path.normpath(p) for p in paths}
    found = [migration for migration in loader.graph.nodes.values()
             if any(module_file(migration).endswith(os.sep + path) for path in wanted)]
    return sorted(found, key=migration_key)


def module_file(migration: Migration) -> str:
    return os.path.normpath(sys.modules[migration.__module__].__file__ or "")


def problems(migrations: list[Migration], *, shipped: set[tuple[str, str]],
             database: str = DEFAULT_DB_ALIAS) -> list[Problem]:
    """Every reason one of ``migrations`` would break the serving version.

    ``shipped``: migrations released before this change (applied to the database being released,
    or older than the change in CI); a contract step's expand migrations must be among them.
    """
    from django_migration_linter import MigrationLinter
    from django_migration_linter.sql_analyser import analyse_sql_statements, get_sql_analyser_class

    logging.getLogger("django_migration_linter").setLevel(logging.WARNING)  # not a line per migration
    linter = MigrationLinter(database=database, no_cache=True, no_output=True)
    analyser = get_sql_analyser_class(connections[database].vendor)
    found: list[Problem] = []
    for migration in migrations:
        name = label(migration_key(migration))
        contract_after = [tuple(k) for k in getattr(migration, "contract_after", ())]
        if contract_after:
            found += [Problem(name, "CONTRACT_TOO_EARLY", CONTRACT_FIX.format(expand=label(k)))
                      for k in contract_after if k not in shipped]
            continue  # a deliberate contract step after its expand step shipped: breaking is the point
        sql = [line for line in linter.get_sql(*migration_key(migration)) if line.strip()]
        errors, _ignored, _warnings = analyse_sql_statements(analyser, sql, [])
        data_errors, _, data_warnings = linter.analyse_data_migration(migration)
        issues = errors + data_errors + [w for w in data_warnings if w.code in IRREVERSIBLE]
        waived = set(getattr(migration, "backwards_compatible", ()))
        for code in dict.fromkeys(issue.code for issue in issues if issue.code not in waived):
            where = ", ".join(sorted({f"{i.table}.{i.column}" if i.column else i.table
                                      for i in issues if i.code == code and i.table}))
            found.append(Problem(name, code, f"{WHY.get(code, code.lower())}{f' ({where})' if where else ''}: "
                                             f"{FIXES.get(code, FIX)}"))
    return found


def reversible(migration: Migration) -> bool:
    """Whether ``migrate`` can unapply it: every operation has a backwards step."""
    return all(op.reversible and not (isinstance(op, RunPython | RunSQL) and not op.reversible)
               for op in migration.operations)
