"""``manage.py rollback_check --to APP:MIGRATION ...``: can this database go back to an older image?

Run by ``keel rollback`` as a one-off task of the image now deployed (the one that knows every
migration the database has applied). ``--to`` names the newest migration of each app the older
image knows (what its ``showmigrations --list`` shows; ``APP:zero`` for an app it has none of).
It prints one ``KEEL-RESULT`` line of JSON: every applied migration the older image does not know,
whether the older code can run with it (``core.migration_safety``'s rules) and whether
``migrate`` can unapply it.

With ``--migrate-back`` it then unapplies them, newest first, under the release's advisory lock,
refusing before it touches anything if one of them cannot be reversed.
"""

from __future__ import annotations

import json

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from core import migration_safety as safety
from core.management.commands.release import LogLines, logger, release_lock

RESULT_PREFIX = "KEEL-RESULT "


def parse_target(text: str) -> tuple[str, str]:
    app, sep, name = text.partition(":")
    if not sep or not app or not name:
        raise CommandError(f"--to {text!r} is not APP:MIGRATION (or APP:zero)")
    return app, name


def ahead_of(loader, targets: dict[str, str]) -> list[tuple[str, str]]:
    """Applied migrations outside what the older image knows, newest first (the order to unapply).

    An app the older image does not list at all is one it does not have: all of its migrations are ahead.
    """
    unknown_targets = [f"{a}.{n}" for a, n in targets.items() if n != "zero" and (a, n) not in loader.graph.nodes]
    if unknown_targets:
        raise CommandError(f"this image does not know {', '.join(unknown_targets)}: the older image's history "
                           "differs (squashed or removed migrations); roll back by hand")
    known = {node for app, name in targets.items() if name != "zero"
             for node in loader.graph.forwards_plan((app, name))}
    order: dict[tuple[str, str], int] = {}
    for leaf in sorted(loader.graph.leaf_nodes()):
        for key in loader.graph.forwards_plan(leaf):
            order.setdefault(key, len(order))
    ahead = [key for key in loader.applied_migrations if key not in known]
    return sorted(ahead, key=lambda key: order.get(key, -1), reverse=True)


def report(loader, ahead: list[tuple[str, str]]) -> list[dict]:
    migrations = [loader.graph.nodes[key] for key in ahead if key in loader.graph.nodes]
    shipped = set(loader.applied_migrations) - set(ahead)
    problems = safety.problems(migrations, shipped=shipped)
    return [{"migration": safety.label(key),
             "known_here": key in loader.graph.nodes,
             "reversible": key in loader.graph.nodes and safety.reversible(loader.graph.nodes[key]),
             "problems": [p.code for p in problems if p.migration == safety.label(key)]}
            for key in ahead]


class Command(BaseCommand):
    help = "Which applied migrations an older image does not know, and unapply them with --migrate-back."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--to", action="append", default=[], metavar="APP:MIGRATION",
                            help="the newest migration of an app the older image knows (APP:zero for none)")
        parser.add_argument("--migrate-back", action="store_true",
                            help="unapply the migrations the older image does not know (all must be reversible)")

    def handle(self, *args, to: list[str], migrate_back: bool, **options) -> None:
        targets = dict(parse_target(t) for t in to)
        loader = safety.loader_for()
        ahead = ahead_of(loader, targets)
        found = report(loader, ahead)
        self.stdout.write(RESULT_PREFIX + json.dumps({"ahead": found}))
        if not migrate_back or not ahead:
            return
        stuck = [m["migration"] for m in found if not m["reversible"]]
        if stuck:
            raise CommandError(f"cannot migrate back: {', '.join(stuck)} cannot be unapplied (no reverse); "
                               "nothing was changed")
        with release_lock():
            for app in dict.fromkeys(key[0] for key in ahead):
                target = targets.get(app, "zero")
                logger.info("rollback: unapplying %s back to %s", app, target)
                output = LogLines(logger)
                call_command("migrate", app, target, interactive=False, stdout=output)
                output.flush()
        logger.info("rollback: the database is back at what the older image knows")
