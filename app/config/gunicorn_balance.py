"""Least-connections accepting for gunicorn's threaded workers: a new connection goes to the worker
that holds the fewest, as a load balancer's least-outstanding-requests routing does across tasks.

Every worker polls the one listening socket; the kernel wakes them all for a new connection and
whichever runs first accepts it. That is usually the busier worker (it is already awake), and
keep-alive connections from a load balancer live for minutes, so one worker can end up holding
most of them. Worst after a recycle (``max_requests``): the recycled worker's connections
reconnect before its replacement exists, all land on the survivor and stay there.

Here each worker publishes how many connections it holds in a small array shared by every worker
(created by the master before it forks them), and leaves a new connection to a sibling that holds
fewer. A worker that stops (recycled, SIGTERM) withdraws, so nobody defers to it. And a worker
holding more than one connection above its emptiest sibling (the survivor of a recycle, once the
replacement is up) closes connections after their current request ("Connection: close"), which
the client or load balancer reopens at the emptier worker: the connections even out within a few
requests of a recycle, and in a balanced steady state nothing is closed early.

Relies on gunicorn's ThreadWorker (``accept``, ``notify``, ``nr_conns``, ``set_accept_enabled``),
pinned to 27.x by pyproject; tests/app/test_gunicorn.py runs the real server.
"""

from __future__ import annotations

import multiprocessing
import os

SLOTS = 64  # more than any WEB_CONCURRENCY plus workers still stopping
_NOT_ACCEPTING = -1


class ConnectionBoard:
    """pid and connection count of every worker, in memory shared across the master's forks."""

    def __init__(self, slots: int = SLOTS):
        self.pids = multiprocessing.RawArray("i", slots)
        self.counts = multiprocessing.RawArray("i", slots)
        self.used = multiprocessing.RawValue("i", 0)  # slots ever claimed: the only ones to read

    def claim(self, pid: int) -> int:
        """A free slot for worker ``pid`` (one whose worker is gone); its index."""
        for index, owner in enumerate(self.pids):
            if owner == 0 or owner == pid or not _alive(owner):
                self.pids[index], self.counts[index] = pid, 0
                self.used.value = max(self.used.value, index + 1)
                return index
        raise RuntimeError("no free slot on the connection board")

    def fewest_elsewhere(self, index: int, check_alive: bool = True) -> int | None:
        """The fewest connections any other accepting worker holds (None if there is none). Without
        ``check_alive`` a worker killed outright may still count, until its slot is claimed again."""
        fewest = None
        for other in range(self.used.value):
            count = self.counts[other]
            if other == index or count == _NOT_ACCEPTING or (fewest is not None and count >= fewest):
                continue
            owner = self.pids[other]
            if owner and (not check_alive or _alive(owner)):
                fewest = count
        return fewest


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def balance(worker, board: ConnectionBoard) -> None:
    """Make ``worker`` (a started ThreadWorker) publish its connections, defer new ones to emptier
    siblings, and answer ``worker.crowded()``: whether it holds more than one connection above the
    emptiest sibling (then a connection it closes reconnects to that sibling)."""
    index = board.claim(worker.pid)
    accept, notify = worker.accept, worker.notify

    def publish() -> None:
        board.counts[index] = worker.nr_conns if worker.alive else _NOT_ACCEPTING

    def balanced_accept(listener) -> None:
        fewest = board.fewest_elsewhere(index)
        if fewest is not None and worker.nr_conns > fewest:
            # Leave it queued for the emptier sibling, which the kernel woke too. The main loop
            # re-enables accepting on its next turn, so nothing waits if that sibling cannot take it.
            worker.set_accept_enabled(False)
            return
        accept(listener)
        publish()

    def notify_and_publish() -> None:
        notify()
        publish()

    def crowded() -> bool:
        fewest = board.fewest_elsewhere(index, check_alive=False)  # per request: no system call
        return fewest is not None and worker.nr_conns > fewest + 1

    worker.accept = balanced_accept
    worker.notify = notify_and_publish
    worker.crowded = crowded
    publish()

