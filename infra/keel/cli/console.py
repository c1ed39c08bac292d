"""How keel talks: progress on stderr with elapsed time, log lines on stdout."""

from __future__ import annotations

import datetime as dt
import re

from keel.tasks import format_elapsed

from .context import Context
from .errors import UsageError

_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str, flag: str) -> int:
    """`30s`, `10m`, `2h`, `1d` as seconds, or a UsageError naming the flag and the accepted forms."""
    match = _DURATION.match(text.strip())
    if not match or int(match.group(1)) == 0:
        raise UsageError(f"{flag} {text!r} is not a duration", hint="use a number and a unit: 30s, 10m, 2h or 1d")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def timestamp(milliseconds: int) -> str:
    """A CloudWatch event time as UTC ISO 8601 to the second."""
    moment = dt.datetime.fromtimestamp(milliseconds / 1000, tz=dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class Progress:
    """Prints `keel: [ELAPSED] WHAT` lines on stderr, each task status once, as it changes."""

    def __init__(self, context: Context):
        self._context = context
        self._started = context.clock()
        self.last_status: str | None = None

    def note(self, message: str) -> None:
        self._context.err(f"keel: [{format_elapsed(self._context.clock() - self._started)}] {message}")

    def status(self, status: str) -> None:
        if status == self.last_status:
            return
        self.last_status = status
        self.note(status)
