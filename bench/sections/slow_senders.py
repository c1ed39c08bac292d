"""9. Hardening (issue 14): the slow-sender drill, and what each protection costs.

Drill (loopback, bounded: 8 connections, 15 s): eight clients send ``POST /accounts/login/`` with
``Content-Length: 100000`` and then 2 bytes a second, while a load balancer's probe asks for
/healthz every 0.25 s with a 1 s timeout. Run against our web as shipped (gthread with the
buffering front, config/gunicorn_worker.py) and against plain gthread (``--worker-class gthread``,
the code before issue 14). One worker (4 threads) per web: with two, gunicorn's least-connections
accepting (config/gunicorn_balance.py) put all 8 (and also all 16) senders on one worker in this
drill and the other answered every probe, so the result would depend on that spread, not on the
threads. Recorded: probes answered and their worst latency, and when each sender was cut off.

Costs (wrk, interleaved rounds, CPU per request from the server's process tree): /healthz and the
documents list (GET /api/documents/, signed in) on our web as shipped, on plain gthread (the
buffering front's cost), and with the CSP, Permissions-Policy and sign-in throttle middleware
removed (bench/apps/unhardened_settings.py; /healthz is answered before Django, so only the list
sees them).
"""

from __future__ import annotations

import socket
import threading
import time

from bench import harness
from bench.sections import throughput
from bench.targets import Target

SENDERS = 8
DRILL_SECONDS = 15.0
PROBE_EVERY = 0.25
PROBE_TIMEOUT = 1.0


def slow_request(host: str) -> bytes:
    """The headers of a sign-in POST that promises a 100 kB body (an anonymous csrftoken cookie)."""
    return (f"POST /accounts/login/ HTTP/1.1\r\nHost: {host}\r\nX-Forwarded-Proto: https\r\n"
            f"Cookie: csrftoken={'a' * 32}\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            "Content-Length: 100000\r\n\r\n").encode()


def send_slowly(port: int, seconds: float, host: str = "127.0.0.1") -> tuple[float | None, bytes]:
    """Send the headers, then the body 2 bytes a second, until the server answers or closes: (seconds
    until then, its answer); (None, b"") if it still listens after ``seconds``."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
        sock.sendall(slow_request(host))
        sock.settimeout(0.05)
        while time.monotonic() - started < seconds:
            try:
                sock.sendall(b"ab")
                answer = sock.recv(4096)
            except TimeoutError:
                time.sleep(0.45)
                continue
            except OSError:
                answer = b""
            return time.monotonic() - started, answer
    return None, b""


def variants(ours: Target) -> list[Target]:
    """Our web as shipped, without the buffering front, and without the header/throttle middleware."""
    gthread = Target("ours-plain-gthread", "ours, plain gthread (no buffering front)",
                     [*ours.argv, "--worker-class", "gthread"], ours.cwd, ours.env, ours.db_path, ours.db_headers)
    bare = Target("ours-no-header-mw", "ours, without CSP / Permissions-Policy / sign-in throttle middleware",
                  ours.argv, ours.cwd, ours.env | {"DJANGO_SETTINGS_MODULE": "bench.apps.unhardened_settings",
                                                   "PYTHONPATH": str(harness.REPO)},
                  ours.db_path, ours.db_headers)
    shipped = Target("ours-hardened", "ours, as shipped", ours.argv, ours.cwd, ours.env, ours.db_path,
                     ours.db_headers)
    return [shipped, gthread, bare]


def slow_sender(port: int, seconds: float, outcome: dict) -> None:
    try:
        cut_off, answer = send_slowly(port, seconds)
    except OSError as exc:
        outcome.update(error=type(exc).__name__)
        return
    if cut_off is not None:
        outcome.update(cut_off_s=round(cut_off, 2),
                       status=answer.split(b" ", 2)[1].decode() if answer.startswith(b"HTTP/") else "closed")


def drill(web: Target) -> dict:
    target = Target(web.name, web.label, web.argv, web.cwd, web.env | {"WEB_CONCURRENCY": "1"}, web.db_path)
    proc = target.start(f"slow-senders-{target.name}")
    try:
        if harness.wait_http_200(target.port, "/healthz", 120, proc) is None:
            raise RuntimeError(f"{target.name} did not start; see {proc.log}")
        outcomes = [{} for _ in range(SENDERS)]
        senders = [threading.Thread(target=slow_sender, args=(target.port, DRILL_SECONDS, outcome), daemon=True)
                   for outcome in outcomes]
        for sender in senders:
            sender.start()
        time.sleep(1.0)
        latencies, failed = [], 0
        deadline = time.monotonic() + DRILL_SECONDS - 1.0
        while time.monotonic() < deadline:
            asked = time.monotonic()
            reply = harness.http_get(target.port, "/healthz", timeout=PROBE_TIMEOUT)
            if reply is not None and reply.status == 200:
                latencies.append(time.monotonic() - asked)
            else:
                failed += 1
            time.sleep(max(0.0, PROBE_EVERY - (time.monotonic() - asked)))
        for sender in senders:
            sender.join(timeout=5)
        cut = [o["cut_off_s"] for o in outcomes if "cut_off_s" in o]
        return {
            "label": target.label, "probes_ok": len(latencies), "probes_failed": failed,
            "probe_max_ms": round(max(latencies) * 1000, 1) if latencies else None,
            "probe_median_ms": round(harness.median(latencies) * 1000, 1) if latencies else None,
            "senders_cut_off": len(cut), "cut_off_after_s": harness.median(cut) if cut else None,
            "cut_off_statuses": sorted({o.get("status", "-") for o in outcomes}),
        }
    finally:
        proc.stop()


def run(ours: Target, quick: bool) -> dict:
    shipped, gthread, bare = variants(ours)
    result = {"senders": SENDERS, "drill_seconds": DRILL_SECONDS, "probe_timeout_s": PROBE_TIMEOUT,
              "drill": {t.name: drill(t) for t in (shipped, gthread)}}
    result["costs"] = throughput.run([shipped, gthread, bare], seconds=5 if quick else 8, rounds=3)
    return result


def markdown(results: dict) -> str:
    from bench.report import fmt, table

    section = results["slow_senders"]
    run = results["meta"].get("added_later", {}).get("slow_senders")
    when = (f"Run on its own (`bench/run --quick --only slow_senders`, {run['started']}, load average "
            f"{run['load_before'][0]:.1f} on {results['meta']['cpus']} CPUs: req/s and p99 are noise here, "
            "CPU per request is the figure to read) and merged into this file.\n\n") if run else ""
    rows = [[d["label"], d["probes_ok"], d["probes_failed"], fmt(d["probe_median_ms"], 1, " ms"),
             fmt(d["probe_max_ms"], 1, " ms"), f"{d['senders_cut_off']} of {section['senders']}",
             fmt(d["cut_off_after_s"], 1, " s"), ", ".join(d["cut_off_statuses"])]
            for d in section["drill"].values()]
    text = when + (f"{section['senders']} clients send `POST /accounts/login/` (Content-Length 100000) at 2 bytes/s for "
            f"{section['drill_seconds']:.0f} s while /healthz is probed every {PROBE_EVERY} s with a "
            f"{section['probe_timeout_s']:.0f} s timeout, against one worker of 4 threads (see the section's "
            "docstring for why one):\n\n"
            + table(["web", "probes 200", "probes failed", "median", "worst", "senders cut off", "after",
                     "their answer"], rows))
    costs = section["costs"]["targets"]
    base = costs.get("ours-hardened", {}).get("summary", {})
    cost_rows = []
    for entry in costs.values():
        for view in ("healthz", "db"):
            summary = (entry.get("summary") or {}).get(view)
            if not summary:
                continue
            reference = base.get(view) or {}
            ratio = (summary["server_cpu_ms_per_request"] / reference["server_cpu_ms_per_request"]
                     if reference.get("server_cpu_ms_per_request") else None)
            cost_rows.append([entry["label"], "/healthz" if view == "healthz" else "documents list",
                              fmt(summary["rps"], 0), fmt(summary["p50_ms"], 2, " ms"), fmt(summary["p99_ms"], 2, " ms"),
                              fmt(summary["server_cpu_ms_per_request"], 3, " ms"), fmt(ratio, 2, "x"), summary["failed"]])
    return text + ("\n\nWhat the protections cost (WEB_CONCURRENCY=2 as on ECS; wrk, 16 connections; CPU per request of the server's process "
                   "tree, the steadier figure on a shared machine; ratio to as shipped, below 1 means the variant "
                   "is cheaper, i.e. the protection costs that much):\n\n"
                   + table(["web", "view", "req/s", "p50", "p99", "CPU/request", "vs shipped", "failed"], cost_rows))
