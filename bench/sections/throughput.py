"""2 and 3. CPU per request, throughput and latency per view, how the workers share the load; memory.

Every target runs under the same gunicorn settings file (our app/gunicorn.conf.py), with and
without worker recycling. All targets run at once (an idle server uses no CPU) so that the samples
interleave: each round measures every view of every target in turn, the order rotated per round,
and the figures are medians over the rounds with every sample kept. Per sample the section also
counts the access lines the server wrote (so a variant is seen to do what its name says) and
samples each worker's connections and CPU (bench.workers).
"""

from __future__ import annotations

from bench import harness, workers, wrk
from bench.targets import Target

VIEWS = ("healthz", "db", "documents")
WARMUP_SECONDS = 2
# Our views load clients lazily (the S3 client on the first presigned URL of each thread): longer.
OURS_WARMUP_SECONDS = 4
CONNECTIONS = 16  # kept alive for the whole sample, as a load balancer keeps its connections


def check_views(target: Target) -> dict[str, int | None]:
    """The status each view answers with the benchmark's headers (200 expected, not a redirect)."""
    statuses = {}
    for view in target.views:
        reply = harness.http_get(target.port, target.path_of(view), timeout=10, headers=target.headers_of(view))
        statuses[view] = reply.status if reply else None
    return statuses


def log_size(proc: harness.Proc) -> int:
    return proc.log.stat().st_size if proc.log.exists() else 0


def access_lines_since(proc: harness.Proc, offset: int) -> int:
    """Access lines (one per request) the server wrote after ``offset``; probe summaries not counted."""
    with proc.log.open("rb") as log:
        log.seek(offset)
        return sum(1 for line in log if b'"logger": "gunicorn.access"' in line and b'"probes":' not in line)


def memory_of(proc: harness.Proc) -> dict:
    """PSS and RSS (MiB) of a gunicorn master and each of its workers."""
    return workers.tree_memory(proc.pid)


def run(targets: list[Target], seconds: float, rounds: int) -> dict:
    procs = {}
    result: dict = {"seconds": seconds, "connections": CONNECTIONS, "rounds": rounds, "targets": {}, "memory": {}}
    try:
        for target in targets:  # all boot at once: the slow boots overlap
            procs[target.name] = target.start(f"wrk-{target.name}")
        for target in targets:
            proc = procs[target.name]
            if harness.wait_http_200(target.port, "/healthz", 120, proc) is None:
                raise RuntimeError(f"{target.name} did not start; see {proc.log}")
            statuses = check_views(target)
            result["targets"][target.name] = {"label": target.label, "status": statuses,
                                              "paths": {v: target.path_of(v) for v in target.views},
                                              "runs": {v: [] for v in target.views}}
            for view in target.views:
                if statuses[view] == 200:
                    warmup = OURS_WARMUP_SECONDS if target.name.startswith("ours") else WARMUP_SECONDS
                    wrk.run(target.url(target.path_of(view)), warmup, connections=CONNECTIONS,
                            headers=target.headers_of(view))
        for i in range(rounds):
            order = targets[i % len(targets):] + targets[:i % len(targets)]
            for view in VIEWS:
                for target in order:
                    entry = result["targets"][target.name]
                    if view not in target.views or entry["status"][view] != 200:
                        continue
                    entry["runs"][view].append(measure(target, procs[target.name], view, seconds))
        for target in targets:
            result["memory"][target.name] = memory_of(procs[target.name])
            entry = result["targets"][target.name]
            entry["summary"] = {view: summarise(entry["runs"][view]) for view in target.views}
    finally:
        for proc in procs.values():
            proc.stop()
    return result


def measure(target: Target, proc: harness.Proc, view: str, seconds: float) -> dict:
    """One wrk run: its figures, the server's CPU per request, access lines, the workers' share."""
    offset = log_size(proc)
    cpu_before = harness.tree_cpu_seconds(proc.pid)
    with workers.Sampler(proc.pid, target.port, interval=1.0) as sampler:
        measured, _ = wrk.run(target.url(target.path_of(view)), seconds, connections=CONNECTIONS,
                              headers=target.headers_of(view))
    cpu = harness.tree_cpu_seconds(proc.pid) - cpu_before
    lines = access_lines_since(proc, offset)
    # CPU per request barely moves with other load on a shared machine; req/s does.
    cpu_ms = cpu * 1000 / measured.requests if measured.requests else None
    return measured.as_dict() | {
        "seconds": seconds, "server_cpu_ms_per_request": cpu_ms, "access_lines": lines,
        "access_lines_per_request": lines / measured.requests if measured.requests else None,
        "workers": sampler.summary(),
    }


def summarise(runs: list[dict]) -> dict | None:
    """Medians over the rounds (every sample kept beside), failures and recycles summed."""
    if not runs:
        return None

    def med(key: str) -> float | None:
        values = [r[key] for r in runs if r.get(key) is not None]
        return harness.median(values) if values else None

    excess = [r["workers"]["busier_worker_excess_pct"] for r in runs
              if r["workers"].get("busier_worker_excess_pct") is not None]
    shares = [r["workers"]["busiest_worker_connection_share"] for r in runs
              if r["workers"].get("busiest_worker_connection_share") is not None]
    return {
        "server_cpu_ms_per_request": med("server_cpu_ms_per_request"),
        "cpu_samples_ms": [r["server_cpu_ms_per_request"] for r in runs],
        "rps": med("rps"),
        "rps_samples": [r["rps"] for r in runs],
        "p50_ms": med("p50_ms"),
        "p99_ms": med("p99_ms"),
        "failed": sum(r["failed"] for r in runs),
        "requests": sum(r["requests"] for r in runs),
        "access_lines_per_request": med("access_lines_per_request"),
        "recycled_workers": sum(r["workers"]["recycled_workers"] for r in runs),
        "busier_worker_excess_pct": harness.median(excess) if excess else None,
        "busier_worker_excess_samples_pct": excess,
        "busiest_worker_connection_share": harness.median(shares) if shares else None,
    }
