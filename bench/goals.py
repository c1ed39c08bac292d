"""The goals of issue 8, judged against one run's figures (reported, never asserted in tests)."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class Goal:
    goal: str
    target: str
    measured: str
    met: bool | None  # None: not measured in this run
    note: str = ""


def _get(results: dict, *path, default=None):
    node = results
    for key in path:
        if not isinstance(node, dict) or key not in node or node[key] is None:
            return default
        node = node[key]
    return node


def ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


def cold_start_goal(results: dict) -> Goal:
    ours = _get(results, "cold_start", "targets", "ours", "median_s")
    base = _get(results, "cold_start", "targets", "startproject", "median_s")
    r = ratio(ours, base)
    if r is None:
        return Goal("cold start", "<= 1.10x startproject (median)", "not measured", None)
    note = "" if r <= 1.10 else f"missed by {(r - 1.10) * 100:.0f} percentage points"
    diagnosis = _get(results, "cold_start", "diagnosis", default={})
    if note and "ours_import_cpu_s" in diagnosis:
        heavy = ", ".join(diagnosis.get("heavy_loaded_at_start") or []) or "none of the watched heavy packages"
        note += (f"; importing our WSGI app costs {diagnosis['ours_import_cpu_s']:.2f} CPU s vs "
                 f"{diagnosis['startproject_import_cpu_s']:.2f} for startproject; "
                 f"loaded at start: {heavy}")
    return Goal("cold start", "<= 1.10x startproject (median)",
                f"{r:.2f}x ({ours:.2f} s vs {base:.2f} s)", r <= 1.10, note)


def throughput_goal(results: dict) -> Goal:
    ours = _get(results, "throughput", "targets", "ours", "summary", "healthz", "rps")
    base = _get(results, "throughput", "targets", "startproject", "summary", "healthz", "rps")
    r = ratio(ours, base)
    if r is None:
        return Goal("/healthz throughput", ">= 0.90x startproject's trivial view", "not measured", None)
    cpu_ours = _get(results, "throughput", "targets", "ours", "summary", "healthz", "server_cpu_ms_per_request")
    cpu_base = _get(results, "throughput", "targets", "startproject", "summary", "healthz",
                    "server_cpu_ms_per_request")
    cpu = ratio(cpu_base, cpu_ours)  # requests per CPU second, ours relative to the baseline
    note = "" if r >= 0.90 else f"missed by {(0.90 - r) * 100:.0f} percentage points"
    if cpu is not None:
        note = (note + "; " if note else "") + f"requests per server CPU second: {cpu:.2f}x startproject"
    why = throughput_breakdown(results)
    if why and r < 0.90:
        note += "; " + why
    return Goal("/healthz throughput", ">= 0.90x startproject's trivial view",
                f"{r:.2f}x ({ours:.0f} vs {base:.0f} req/s)", r >= 0.90, note)


def throughput_breakdown(results: dict) -> str:
    """Server CPU per /healthz request for ours, without worker recycling, also without access
    lines, and the baseline: what each production setting costs."""
    def cpu(name: str) -> float | None:
        return _get(results, "throughput", "targets", name, "summary", "healthz", "server_cpu_ms_per_request")

    ours, no_recycle, quiet, base = cpu("ours"), cpu("ours-no-recycle"), cpu("ours-no-access-log"), cpu("startproject")
    if None in (ours, no_recycle, quiet, base):
        return ""
    max_requests = _get(results, "meta", "gunicorn_settings", "max_requests", default="?")
    return (f"server CPU per request {ours:.2f} ms vs {base:.2f} ms: worker recycling (max_requests "
            f"{max_requests}) {ours - no_recycle:+.2f} ms, access lines "
            f"{no_recycle - quiet:+.2f} ms, the rest of our request path {quiet - base:+.2f} ms")


def failed_requests(results: dict) -> dict[str, int | None]:
    """Failed requests per drill (None where the drill did not run)."""
    found: dict[str, int | None] = {
        "SIGTERM with slow requests in flight": _get(results, "shutdown", "sigterm", "failed"),
        "SIGHUP reload under load": _get(results, "shutdown", "sighup", "failed"),
    }
    for service in ("redis", "postgres"):
        found[f"/healthz during {service} outage"] = _get(results, "outages", service, "healthz_failures")
    return found


def load_test_failures(results: dict) -> dict[str, int]:
    """Failed requests (errors and wrk timeouts) in the throughput runs, which are not drills."""
    found = {}
    for name, entry in (_get(results, "throughput", "targets", default={}) or {}).items():
        for view, summary in (entry.get("summary") or {}).items():
            if summary and summary["failed"]:
                found[f"{name} {view}"] = summary["failed"]
    return found


def zero_failed_goal(results: dict) -> Goal:
    found = failed_requests(results)
    measured = {k: v for k, v in found.items() if v is not None}
    load = load_test_failures(results)
    load_note = ("throughput runs (not drills): " + "; ".join(f"{k}: {v}" for k, v in load.items())) if load else ""
    if not measured:
        return Goal("zero failed requests", "0 in every drill", "not measured", None, load_note)
    bad = {k: v for k, v in measured.items() if v}
    total = sum(measured.values())
    note = "; ".join([*(f"{k}: {v}" for k, v in bad.items()), *([load_note] if load_note else [])])
    return Goal("zero failed requests", "0 in every drill", f"{total} failed in {len(measured)} drills",
                not bad, note)


def zero_lost_goal(results: dict) -> Goal:
    lost = {name: _get(results, "tasks", name, "lost") for name in ("kill9", "sigterm")}
    measured = {k: v for k, v in lost.items() if v is not None}
    if not measured:
        return Goal("zero lost tasks", "0 in every drill", "not measured", None)
    tasks = _get(results, "tasks", "kill9", "tasks", default=0)
    return Goal("zero lost tasks", "0 in every drill",
                ", ".join(f"{k}: {v} of {tasks} lost" for k, v in measured.items()),
                not any(measured.values()))


def recovery_goal(results: dict) -> Goal:
    parts, met = [], True
    for service in ("redis", "postgres"):
        detect = _get(results, "outages", service, "detect_503_s")
        recover = _get(results, "outages", service, "recover_200_s")
        if recover is None and detect is None:
            continue
        parts.append(f"{service}: 503 after {fmt(detect)}, 200 after {fmt(recover)}")
        met = met and detect is not None and detect <= 2 and recover is not None and recover <= 5
    restarted = _get(results, "outages", "no_process_restarted")
    if not parts:
        return Goal("outage recovery", "503 within 2 s, 200 within 5 s, no restart", "not measured", None)
    if restarted is not None:
        parts.append("no process restarted" if restarted else "a process restarted")
        met = met and restarted
    return Goal("outage recovery", "503 within 2 s, 200 within 5 s, no restart", "; ".join(parts), met)


def fmt(seconds: float | None) -> str:
    return "never" if seconds is None else f"{seconds:.2f} s"


def evaluate(results: dict) -> list[dict]:
    goals = (cold_start_goal, throughput_goal, zero_failed_goal, zero_lost_goal, recovery_goal)
    return [asdict(goal(results)) for goal in goals]
