"""Process control for the benchmarks: start, poll, stop, and always clean up.

Every process the bench starts runs in its own session (process group), is logged to a file
under bench/work/logs/, and is registered so that an exception, Ctrl-C or SIGTERM to the bench
still stops it: ``cleanup_all`` runs from ``atexit`` and from the signal handlers.
"""

from __future__ import annotations

import atexit
import http.client
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WORK = REPO / "bench" / "work"
LOGS = WORK / "logs"


@dataclass
class Proc:
    """A started process group: its Popen, name and log file."""

    name: str
    popen: subprocess.Popen
    log: Path
    started: float = field(default_factory=time.monotonic)
    exited_at: float | None = None  # set by watch_exit()

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def send(self, sig: int) -> None:
        if self.alive():
            os.kill(self.pid, sig)

    def watch_exit(self) -> None:
        """Record the moment the process exits (``exited_at``) from a background thread."""
        def wait() -> None:
            self.popen.wait()
            self.exited_at = time.monotonic()

        threading.Thread(target=wait, daemon=True, name=f"watch-{self.name}").start()

    def wait_exit(self, timeout: float) -> float | None:
        """Seconds until the process exited, or None if it is still running after ``timeout``."""
        start = time.monotonic()
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        return time.monotonic() - start

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> float | None:
        """Signal the leader, wait, then SIGKILL the whole group; the seconds a clean exit took."""
        took = None
        if self.alive():
            self.send(sig)
            took = self.wait_exit(timeout)
        kill_group(self.pid)
        if self.alive():
            self.popen.wait(timeout=5)
        _RUNNING.pop(self.pid, None)
        return took

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


_RUNNING: dict[int, Proc] = {}


def kill_group(pgid: int) -> None:
    """SIGKILL every process left in the group (children a leader forgot to reap)."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def start(name: str, argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None,
          user: str | None = None) -> Proc:
    """Start ``argv`` in a new session with its output in bench/work/logs/NAME.log."""
    LOGS.mkdir(parents=True, exist_ok=True)
    log = LOGS / f"{name}.log"
    with log.open("ab") as out:
        out.write(f"\n--- {time.strftime('%H:%M:%S')} {' '.join(argv)}\n".encode())
        out.flush()
        popen = subprocess.Popen(
            argv, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, user=user,
        )
    proc = Proc(name, popen, log)
    _RUNNING[popen.pid] = proc
    return proc


def cleanup_all() -> None:
    """Stop every process the bench started and has not stopped yet."""
    for proc in list(_RUNNING.values()):
        try:
            proc.stop(signal.SIGTERM, timeout=3)
        except Exception:  # cleanup must go on to the next process whatever happened
            kill_group(proc.pid)
    _RUNNING.clear()


def _on_signal(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def install_cleanup() -> None:
    atexit.register(cleanup_all)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Reply:
    status: int
    body: bytes

    def text(self) -> str:
        return self.body.decode(errors="replace")


def http_request(method: str, port: int, path: str, body: bytes | None = None, timeout: float = 2.0,
                 headers: dict[str, str] | None = None) -> Reply | None:
    """One request to http://127.0.0.1:PORT/PATH; None when the connection fails or times out."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers={"Host": "127.0.0.1", **(headers or {})})
        resp = conn.getresponse()
        return Reply(resp.status, resp.read())
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def http_get(port: int, path: str, timeout: float = 2.0, headers: dict[str, str] | None = None) -> Reply | None:
    return http_request("GET", port, path, timeout=timeout, headers=headers)


def http_put(port: int, path: str, body: bytes = b"") -> Reply | None:
    return http_request("PUT", port, path, body=body, timeout=10)


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.02) -> float | None:
    """Seconds until ``predicate()`` was true, or None after ``timeout``."""
    start = time.monotonic()
    while True:
        if predicate():
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            return None
        time.sleep(interval)


def wait_http_200(port: int, path: str, timeout: float, proc: Proc | None = None) -> float | None:
    """Seconds until GET PATH answers 200 (None on timeout, or as soon as ``proc`` dies)."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        reply = http_get(port, path, timeout=1.0)
        if reply is not None and reply.status == 200:
            return time.monotonic() - start
        if proc is not None and not proc.alive():
            return None
        time.sleep(0.01)
    return None


def children(pid: int) -> list[int]:
    """Direct child process ids of ``pid`` (from /proc), whichever of its threads forked them."""
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found.update(int(p) for p in (task / "children").read_text().split())
        except OSError:
            continue
    return sorted(found)


def rss_mib(pid: int) -> float | None:
    """Resident set size of one process in MiB (VmRSS), None if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """CPU seconds used by a process and by its children it has reaped (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # utime, stime, cutime, cstime are fields 14-17 of stat; fields[0] here is field 3.
    return sum(int(v) for v in fields[11:15]) / _TICK


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of a server and its live workers, plus workers it has already reaped.

    Sampled before and after a load run, the difference counts a worker recycled in between
    exactly once: live at the first sample, in the master's reaped-children time at the second.
    """
    return cpu_seconds(pid) + sum(cpu_seconds(child) for child in children(pid))


def median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
