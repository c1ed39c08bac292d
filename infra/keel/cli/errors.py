"""The errors keel turns into a short message and an exit code instead of a traceback."""

from __future__ import annotations


class KeelError(Exception):
    """A problem the user can fix: printed as `keel: MESSAGE` plus an optional hint line."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(KeelError):
    """Bad arguments or bad input files (exit code 2, like argparse's own errors)."""

    exit_code = 2
