"""Reading what one-off tasks say about migrations (no AWS, no Django: text in, facts out).

``keel rollback`` asks the older image for its migration graph with Django's own
``showmigrations --list`` (every image has it, however old) and the deployed image for the
database's state with ``rollback_check``, which answers with one ``KEEL-RESULT`` JSON line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

APP_LINE = re.compile(r"^([a-z_][a-z0-9_]*)$")
MIGRATION_LINE = re.compile(r"^ \[[X ]\] (\w+)")
RESULT_PREFIX = "KEEL-RESULT "


def leaves_from_showmigrations(lines: Iterable[str]) -> dict[str, str]:
    """{app: the newest migration the image knows, or "zero"} from `manage.py showmigrations --list`.

    Django lists each app's migrations in plan order, so the last one listed is the app's leaf.
    """
    leaves: dict[str, str] = {}
    app = None
    for line in lines:
        line = line.rstrip("\n")
        if APP_LINE.match(line):
            app = line
            leaves[app] = "zero"
        elif app and (found := MIGRATION_LINE.match(line)):
            leaves[app] = found.group(1)
    return leaves


def result_from_lines(lines: Iterable[str]) -> dict | None:
    """The JSON of the last KEEL-RESULT line, or None if the task printed none."""
    found = None
    for line in lines:
        if line.startswith(RESULT_PREFIX):
            found = json.loads(line[len(RESULT_PREFIX):])
    return found


def to_arguments(leaves: dict[str, str]) -> list[str]:
    """rollback_check's --to arguments for those leaves."""
    return [arg for app, name in sorted(leaves.items()) for arg in ("--to", f"{app}:{name}")]
