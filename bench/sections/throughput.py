"""2 and 3. Throughput and latency with wrk on /healthz and a DB-reading JSON view; then memory.

All targets run at once (idle ones use no CPU) so the wrk runs can be interleaved: for each
round and view, every target in turn, the order rotated per round.
"""

from __future__ import annotations

from bench import harness, wrk
from bench.targets import FORWARDED, Target

VIEWS = ("healthz", "db")
WARMUP_SECONDS = 2
# Our views load clients lazily (the S3 client on the first presigned URL of each thread): longer.
OURS_WARMUP_SECONDS = 6


def path_of(target: Target, view: str) -> str:
    return "/healthz" if view == "healthz" else target.db_path


def headers_of(target: Target, view: str) -> dict[str, str]:
    return {**FORWARDED, **(target.db_headers if view == "db" else {})}


def check_views(target: Target) -> dict[str, int | None]:
    """The status each view answers with the benchmark's headers (200 expected, not a redirect)."""
    statuses = {}
    for view in VIEWS:
        reply = harness.http_get(target.port, path_of(target, view), timeout=10, headers=headers_of(target, view))
        statuses[view] = reply.status if reply else None
    return statuses


def memory_of(proc: harness.Proc) -> dict:
    """RSS of a gunicorn master and each of its workers, in MiB."""
    workers = harness.children(proc.pid)
    worker_rss = [harness.rss_mib(pid) for pid in workers]
    return {"master_mib": harness.rss_mib(proc.pid), "workers_mib": worker_rss,
            "total_mib": sum(x for x in [harness.rss_mib(proc.pid), *worker_rss] if x is not None)}


def run(targets: list[Target], seconds: float, rounds: int, extra: list[Target] | None = None,
        extra_rounds: int = 0, extra_seconds: float = 5) -> dict:
    """wrk every target, interleaved; then ``extra_rounds`` more short runs of the ``extra`` targets
    (a close comparison, e.g. one app under two gunicorn releases, gets more samples)."""
    procs = {}
    result: dict = {"seconds": seconds, "connections": 16, "rounds": rounds, "targets": {}, "memory": {}}
    try:
        for target in targets:  # all boot at once: the slow boots overlap
            procs[target.name] = target.start(f"wrk-{target.name}")
        for target in targets:
            proc = procs[target.name]
            if harness.wait_http_200(target.port, "/healthz", 120, proc) is None:
                raise RuntimeError(f"{target.name} did not start; see {proc.log}")
            statuses = check_views(target)
            result["targets"][target.name] = {"label": target.label, "status": statuses,
                                              "runs": {v: [] for v in target.views}}
            # Every view is warmed, also on targets measured on fewer: what a worker has loaded (the S3
            # client after the first document list) changes the cost of every later request.
            for view in VIEWS:
                if statuses[view] == 200:
                    warmup = OURS_WARMUP_SECONDS if target.name.startswith("ours") else WARMUP_SECONDS
                    wrk.run(target.url(path_of(target, view)), warmup, headers=headers_of(target, view))
        for i in range(rounds):
            order = targets[i % len(targets):] + targets[:i % len(targets)]
            for view in VIEWS:
                for target in order:
                    entry = result["targets"][target.name]
                    if view not in target.views or entry["status"][view] != 200:
                        continue
                    entry["runs"][view].append(measure(target, procs[target.name], view, seconds))
        chosen = [t for t in (extra or []) if t.name in procs]
        result.update(extra_rounds=extra_rounds if chosen else 0, extra_seconds=extra_seconds,
                      extra_targets=[t.name for t in chosen])
        for i in range(extra_rounds):
            for view in VIEWS:
                for target in chosen[i % len(chosen):] + chosen[:i % len(chosen)]:
                    if view in target.views and result["targets"][target.name]["status"][view] == 200:
                        result["targets"][target.name]["runs"][view].append(
                            measure(target, procs[target.name], view, extra_seconds))
        for target in targets:
            result["memory"][target.name] = memory_of(procs[target.name])
            entry = result["targets"][target.name]
            entry["summary"] = {view: summarise(entry["runs"][view]) for view in target.views}
    finally:
        for proc in procs.values():
            proc.stop()
    return result


def measure(target: Target, proc: harness.Proc, view: str, seconds: float) -> dict:
    """One wrk run: its figures plus the server's CPU time per request."""
    cpu_before = harness.tree_cpu_seconds(proc.pid)
    measured, _ = wrk.run(target.url(path_of(target, view)), seconds, headers=headers_of(target, view))
    cpu = harness.tree_cpu_seconds(proc.pid) - cpu_before
    # CPU per request barely moves with other load on a shared machine; req/s does.
    cpu_ms = cpu * 1000 / measured.requests if measured.requests else None
    return measured.as_dict() | {"seconds": seconds, "server_cpu_ms_per_request": cpu_ms}


def summarise(runs: list[dict]) -> dict | None:
    """Median rps, p50 and p99 over the rounds, and the failed requests summed."""
    if not runs:
        return None
    return {
        "rps": harness.median([r["rps"] for r in runs]),
        "p50_ms": harness.median([r["p50_ms"] for r in runs]),
        "p99_ms": harness.median([r["p99_ms"] for r in runs]),
        "failed": sum(r["failed"] for r in runs),
        "server_cpu_ms_per_request": harness.median([r["server_cpu_ms_per_request"] or 0 for r in runs]),
        "requests": sum(r["requests"] for r in runs),
    }
