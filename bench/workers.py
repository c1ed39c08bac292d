"""What each gunicorn worker is doing while load runs: its connections, its CPU, its memory.

Connections are read from each worker's own sockets: the socket inodes among ``/proc/PID/fd``
matched against the established TCP connections in ``/proc/net/tcp`` whose local port is the
server's. CPU is ``/proc/PID/stat``'s utime + stime; memory is ``/proc/PID/smaps_rollup``'s PSS
(shared pages split between the processes that map them) beside RSS (which counts them in full
for every process).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from bench import harness

_TICK = os.sysconf("SC_CLK_TCK")
ESTABLISHED = "01"


def established_inodes(port: int) -> set[str]:
    """Socket inodes of established TCP connections whose local port is ``port`` (IPv4 and IPv6)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == ESTABLISHED and int(local.rsplit(":", 1)[1], 16) == port:
                found.add(inode)
    return found


def socket_inodes(pid: int) -> set[str]:
    """Inodes of the sockets process ``pid`` holds open."""
    found = set()
    try:
        for fd in os.scandir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(fd.path)
            except OSError:
                continue
            if target.startswith("socket:["):
                found.add(target[8:-1])
    except OSError:
        pass
    return found


def connections_per_worker(master: int, port: int) -> dict[int, int]:
    """worker pid -> established client connections it holds right now."""
    established = established_inodes(port)
    return {pid: len(socket_inodes(pid) & established) for pid in harness.children(master)}


def own_cpu_seconds(pid: int) -> float | None:
    """utime + stime of one process (not its children), None if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / _TICK


def memory_mib(pid: int) -> dict[str, float] | None:
    """{"pss": MiB, "rss": MiB} of one process from smaps_rollup, None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return None
    values = {}
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        if name in ("Rss", "Pss"):
            values[name.lower()] = int(rest.split()[0]) / 1024
    return values


def tree_memory(master: int) -> dict:
    """PSS and RSS of a master and each of its children, and the totals (MiB)."""
    main = memory_mib(master) or {}
    children = [m for m in (memory_mib(pid) for pid in harness.children(master)) if m]
    return {
        "main_pss_mib": main.get("pss"), "main_rss_mib": main.get("rss"),
        "children_pss_mib": [c["pss"] for c in children], "children_rss_mib": [c["rss"] for c in children],
        "total_pss_mib": sum([main.get("pss", 0.0), *(c["pss"] for c in children)]),
        "total_rss_mib": sum([main.get("rss", 0.0), *(c["rss"] for c in children)]),
    }


class Sampler:
    """Samples a gunicorn server's workers every ``interval`` seconds in a background thread.

    Per interval it records each worker's connections and the CPU it used; a worker that was not
    alive for the whole interval (it was recycled or just started) counts for its part only.
    ``summary()`` says how evenly the workers carried the load and how many were recycled.
    """

    def __init__(self, master: int, port: int, interval: float = 0.5):
        self.master, self.port, self.interval = master, port, interval
        self.samples: list[dict] = []
        self.pids_seen: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="worker-sampler")

    def __enter__(self) -> Sampler:
        self.pids_seen.update(harness.children(self.master))
        self._initial = set(self.pids_seen)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        cpu = {pid: own_cpu_seconds(pid) for pid in harness.children(self.master)}
        while not self._stop.wait(self.interval):
            connections = connections_per_worker(self.master, self.port)
            self.pids_seen.update(connections)
            now = {pid: own_cpu_seconds(pid) for pid in connections}
            used = {pid: (now[pid] - cpu[pid]) if cpu.get(pid) is not None and now[pid] is not None else None
                    for pid in connections}
            self.samples.append({"connections": connections, "cpu_s": used})
            cpu = now

    def summary(self) -> dict:
        """The busiest worker's share of the workers' CPU and of their connections, over the intervals
        with two workers that were both alive for the whole interval (0.5 is an even split)."""
        busiest_cpu = total_cpu = busiest_conn = total_conn = 0.0
        intervals = 0
        for sample in self.samples:
            cpu = [v for v in sample["cpu_s"].values() if v is not None]
            conns = list(sample["connections"].values())
            if len(cpu) < 2 or len(cpu) != len(conns):
                continue
            intervals += 1
            busiest_cpu += max(cpu)
            total_cpu += sum(cpu)
            busiest_conn += max(conns)
            total_conn += sum(conns)
        share = busiest_cpu / total_cpu if total_cpu else None
        return {
            "intervals": intervals,
            "recycled_workers": len(self.pids_seen - self._initial),
            "busiest_worker_cpu_share": share,
            # How much more CPU the busier worker used than the other: 0 % is an even split.
            "busier_worker_excess_pct": (busiest_cpu / (total_cpu - busiest_cpu) - 1) * 100
            if total_cpu > busiest_cpu else None,
            "busiest_worker_connection_share": busiest_conn / total_conn if total_conn else None,
            "connections_per_interval": [sorted(s["connections"].values(), reverse=True) for s in self.samples],
        }
