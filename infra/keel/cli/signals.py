"""Signal handling around long waits: SIGTERM as Ctrl-C, and Ctrl-C left to an interactive child."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator


@contextlib.contextmanager
def _handling(signum: int, handler) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield  # handlers can only be set from the main thread; keep the defaults
        return
    previous = signal.signal(signum, handler)
    try:
        yield
    finally:
        signal.signal(signum, previous)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _ignore(signum, frame):
    pass


def sigterm_as_ctrl_c() -> contextlib.AbstractContextManager[None]:
    """A cancelled CI job sends SIGTERM: treat it like Ctrl-C, so the task gets stopped."""
    return _handling(signal.SIGTERM, _interrupt)


def ctrl_c_for_the_child() -> contextlib.AbstractContextManager[None]:
    """While an interactive child runs, Ctrl-C belongs to it (it interrupts a command in the
    remote shell); keel must not die of it. A Python handler, unlike SIG_IGN, is reset to the
    default in the child at exec, so the child still receives Ctrl-C normally."""
    return _handling(signal.SIGINT, _ignore)
