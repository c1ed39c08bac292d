"""The Procfile: the single source of every process type's command.

Each line ``name: command`` becomes an exec-form argv (split like a shell, without a shell), so
ECS runs the process as PID 1's child under the init process and it receives SIGTERM.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

PROCFILE = Path(__file__).resolve().parents[2] / "Procfile"
LINE = re.compile(r"^([A-Za-z0-9_-]+):\s*(.+)$")
SHELL_FEATURES = ("&&", "||", "|", ";", "$", "`", ">", "<")


class ProcfileError(Exception):
    pass


def parse(text: str) -> dict[str, list[str]]:
    """{process name -> argv} from Procfile text; comments and blank lines are skipped."""
    commands: dict[str, list[str]] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = LINE.match(stripped)
        if not match:
            raise ProcfileError(f"Procfile line {number}: expected `name: command`, got {stripped!r}")
        name, command = match.groups()
        argv = shlex.split(command)
        features = [token for token in argv if token in SHELL_FEATURES or token.startswith("$")]
        if features:
            raise ProcfileError(f"Procfile line {number} ({name}): shell syntax {features} is not run by "
                                "ECS exec form; use a plain command")
        if name in commands:
            raise ProcfileError(f"Procfile line {number}: process {name!r} is defined twice")
        commands[name] = argv
    return commands


def commands(path: Path = PROCFILE, required: tuple[str, ...] = ()) -> dict[str, list[str]]:
    """The Procfile's commands; every name in ``required`` must be present."""
    found = parse(path.read_text())
    missing = [name for name in required if name not in found]
    if missing:
        raise ProcfileError(f"Procfile has no process {', '.join(missing)}: add `name: command` lines")
    return found
