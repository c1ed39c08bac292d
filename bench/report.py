"""bench/RESULTS.md from one run's results: goals first, then a table per section, plus charts."""

from __future__ import annotations

from pathlib import Path

from bench import charts


def fmt(value, digits: int = 2, unit: str = "") -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}f}{unit}"
    return f"{value}{unit}"


def code(text: str) -> str:
    """Inline code that may itself contain backticks."""
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def section_error(results: dict, name: str) -> str | None:
    entry = results.get(name)
    if entry is None:
        return "not run"
    if "error" in entry:
        return f"failed: `{entry['error']}`"
    return None


def goals_md(results: dict) -> str:
    rows = [[g["goal"], g["target"], g["measured"], {True: "met", False: "**missed**", None: "–"}[g["met"]],
             g["note"]] for g in results.get("goals", [])]
    return table(["goal", "target", "measured", "result", "note"], rows)


def cold_start_md(results: dict) -> str:
    data = results["cold_start"]
    base = data["targets"].get("startproject", {}).get("median_s")
    rows = []
    for entry in data["targets"].values():
        ratio = entry["median_s"] / base if base and entry["median_s"] else None
        rows.append([entry["label"], fmt(entry["min_s"], 3, " s"), fmt(entry["median_s"], 3, " s"),
                     fmt(ratio, 2, "x"), entry["failed_starts"],
                     ", ".join(fmt(s, 2) for s in entry["samples_s"])])
    text = (f"Launch to the first 200 on `/healthz`; {data['runs']} runs per target, interleaved.\n\n"
            + table(["target", "min", "median", "vs startproject", "failed", "samples (s)"], rows))
    diagnosis = data.get("diagnosis") or {}
    if "ours_import_cpu_s" in diagnosis:
        extra = ", ".join(f"`{name}` {ms:.0f} ms" for name, ms in diagnosis["extra_packages_ms"].items())
        text += (
            "\n\nWhere the time goes: importing the WSGI module costs our app "
            f"{diagnosis['ours_import_cpu_s']:.2f} CPU s ({diagnosis['ours_modules']} top-level packages) against "
            f"{diagnosis['startproject_import_cpu_s']:.2f} CPU s ({diagnosis['startproject_modules']}) for "
            "startproject; "
            + ("our master imports it once and forks the workers from it (`preload_app`), while startproject's "
               "two workers each import it after the fork. "
               if str(results["meta"].get("gunicorn_settings", {}).get("preload_app")) == "True"
               else "each gunicorn worker imports it after the fork (no `preload_app`). ")
            +
            f"Packages only our app loads at start, by cumulative import time: {extra}. "
            f"Heavy clients loaded at start: {', '.join(diagnosis['heavy_loaded_at_start']) or 'none'}.")
    return text


def throughput_md(results: dict) -> str:
    data = results["throughput"]
    base = data["targets"].get("startproject", {}).get("summary", {})
    rows = []
    for view, title in (("healthz", "/healthz"), ("db", "DB-reading JSON view")):
        for entry in data["targets"].values():
            if view not in entry["runs"]:
                continue
            summary = (entry.get("summary") or {}).get(view)
            if summary is None:
                rows.append([title, entry["label"], f"status {entry['status'].get(view)}", "–", "–", "–", "–", "–"])
                continue
            ratio = summary["rps"] / base[view]["rps"] if base.get(view) else None
            rows.append([title, entry["label"], fmt(summary["rps"], 0), fmt(ratio, 2, "x"),
                         fmt(summary["p50_ms"], 2, " ms"), fmt(summary["p99_ms"], 2, " ms"),
                         fmt(summary.get("server_cpu_ms_per_request"), 2, " ms"), summary["failed"]])
    extra = ""
    if data.get("extra_rounds"):
        names = ", ".join(data["targets"][n]["label"] for n in data["extra_targets"])
        extra = (f" {names}: {data['extra_rounds']} more {data['extra_seconds']:g} s runs each, "
                 "interleaved (figures are medians).")
    return (f"wrk, {data['seconds']:g} s at {data['connections']} connections, 2 threads; "
            f"{data['rounds']} round(s), targets interleaved.{extra}\n\n"
            + table(["view", "target", "req/s", "vs startproject", "p50", "p99", "server CPU per request", "failed"],
                    rows)
            + "\n\nServer CPU per request is the CPU time of the gunicorn master and workers (recycled workers "
              "included) divided by the requests served: unlike req/s it hardly moves when other processes "
              "load the machine, so it is the steadier comparison on a shared host.")


def gunicorn_md(results: dict) -> str:
    data = results["throughput"]["targets"]
    pairs = [(a, b) for a, b in (("ours", "ours-g23"), ("hello", "hello-g23")) if a in data and b in data]
    if not pairs:
        return "Not compared in this run."
    rows = []
    for newest, other in pairs:
        for view in ("healthz", "db"):
            new, old = data[newest]["summary"].get(view), data[other]["summary"].get(view)
            if not (new and old):
                continue
            rows.append([data[newest]["label"], view, fmt(new["rps"], 0), fmt(old["rps"], 0),
                         fmt((new["rps"] / old["rps"] - 1) * 100, 1, " %"),
                         fmt(new.get("server_cpu_ms_per_request"), 2, " ms"),
                         fmt(old.get("server_cpu_ms_per_request"), 2, " ms"), f"{new['failed']} / {old['failed']}"])
    return ("The same apps and settings under each gunicorn release (a second virtualenv that differs only "
            "in gunicorn), interleaved with the other targets:\n\n"
            + table(["app", "view", "req/s newest", "req/s 23.x", "newest vs 23.x", "CPU/req newest",
                     "CPU/req 23.x", "failed newest / 23.x"], rows))


def memory_md(results: dict) -> str:
    rows = []
    for name, mem in (results.get("throughput", {}).get("memory") or {}).items():
        workers = ", ".join(fmt(w, 1) for w in mem["workers_mib"])
        rows.append([results["throughput"]["targets"][name]["label"], fmt(mem["master_mib"], 1), workers,
                     fmt(mem["total_mib"], 1)])
    text = "Resident memory (MiB) after the throughput runs (warm).\n\n" + table(
        ["target", "gunicorn master", "workers", "total"], rows)
    celery = (results.get("tasks", {}).get("sigterm") or {}).get("memory")
    if celery:
        pool = ", ".join(fmt(p, 1) for p in celery["pool_mib"])
        text += "\n\n" + table(["Celery worker", "main process", "pool processes"],
                               [["ours (after ~30 % of the drill's tasks)", fmt(celery["main_mib"], 1), pool]])
    return text


def shutdown_md(results: dict) -> str:
    data = results["shutdown"]
    term, hup = data["sigterm"], data["sighup"]
    g = data["gunicorn"]
    rows = [
        ["SIGTERM, slow requests in flight", f"{term['in_flight']} x {term['request_seconds']:g} s",
         f"{term['completed_200']} of {term['in_flight']} got 200", term["failed"],
         f"last response {fmt(term.get('last_response_after_sigterm_s'), 2, ' s')} and master exit "
         f"{fmt(term['master_exit_s'], 2, ' s')} after SIGTERM "
         f"({fmt(term.get('master_exit_after_last_response_s'), 2, ' s')} after the last response)"],
        ["SIGHUP under wrk load", f"{hup['seconds']:g} s, 16 connections",
         f"{hup['requests']} requests, workers replaced: {fmt(hup['workers_replaced'])}", hup["failed"],
         f"old workers gone {fmt(hup.get('old_workers_gone_after_hup_s'), 2, ' s')} after SIGHUP; "
         f"master alive: {fmt(hup['master_alive'])}"],
    ]
    return (f"gunicorn: {g.get('workers')} x {g.get('worker_class')} worker(s), {g.get('threads')} threads, "
            f"graceful_timeout {g.get('graceful_timeout')} s.\n\n"
            + table(["drill", "load", "outcome", "failed", "timing"], rows))


def tasks_md(results: dict) -> str:
    data = results["tasks"]
    rows = []
    for name, title in (("kill9", "kill -9 worker mid-run, restart"), ("sigterm", "SIGTERM mid-run, replacement started")):
        d = data[name]
        rows.append([title, d["tasks"], d["processed_at_signal"], fmt(d.get("worker_exit_s"), 1, " s"),
                     d.get("processed"), d.get("lost"), d.get("tasks_run_more_than_once"),
                     fmt(d.get("all_done_after_signal_s"), 1, " s")])
    sigterm = data["sigterm"]
    return (f"Visibility timeout {data['visibility_timeout_s']} s (CELERY_VISIBILITY_TIMEOUT). "
            "'ran twice' counts tasks the worker logs show succeeding more than once.\n\n"
            + table(["drill", "tasks", "done at signal", "old worker exit after signal", "processed", "lost",
                     "ran twice", "all done after signal"], rows)
            + "\n\nAfter kill -9 the tasks the dead worker held wait for Redis to hand them out again: their "
              "visibility timeout, plus up to kombu's restore sweep period (`unacked_restore_interval` 10 s x "
              "`unacked_restore_throttle` 10 = 100 s, neither set by the app), which is what the kill -9 row's "
              "'all done' shows. After SIGTERM the old worker stops taking tasks, finishes the running ones and "
              "exits after Celery's soft-shutdown wait ("
            + (f"it logged {code(sigterm['restored_log_line'])})." if sigterm.get("restored_log_line")
               else "nothing was left to restore: no 'Restoring N unacknowledged message(s)' line)."))


def outages_md(results: dict) -> str:
    data = results["outages"]
    rows = []
    for service in ("redis", "postgres"):
        d = data[service]
        failing = ", ".join(d["readyz_body"].get("failing", [])) if d["readyz_body"] else "–"
        rows.append([service, fmt(d["detect_503_s"], 2, " s"), failing,
                     f"{d['healthz_failures']} of {d['healthz_checks']}", fmt(d["recover_200_s"], 2, " s")])
    return (table(["service stopped", "/readyz 503 after", "named failing", "/healthz failures",
                   "/readyz 200 after restart"], rows)
            + f"\n\nNo process restarted (web master, workers, Celery): **{fmt(data['no_process_restarted'])}**; "
              f"a task queued after both outages completed in {fmt(data.get('task_after_recovery_s'), 1, ' s')}.")


def bad_input_md(results: dict) -> str:
    data = results["bad_input"]
    env_rows = [[c["case"], f"`{c['process']}`", ", ".join(f"{k}={v}" for k, v in c["change"].items()),
                 c["exit_code"], code(c.get("message", c["first_line"])), c["lines"], fmt(c["traceback"])]
                for c in data["environments"]]
    stack_rows = [[c["case"], code(c.get("command", c["stack"])), c["exit_code"],
                   code(c.get("message", c["first_line"])), c["lines"], fmt(c["traceback"])]
                  for c in data["stack_configs"]]
    return ("Malformed environments (production mode, one change from a good environment), each run with "
            "the Procfile's command for that process; the message is the problem line printed under the "
            "header `keel: the environment is not a valid configuration (N problems):`.\n\n"
            + table(["case", "process", "change", "exit", "message", "stderr lines", "traceback"], env_rows)
            + "\n\nMalformed stack configs, each run through `keel check` (the Pulumi program under mocks):\n\n"
            + table(["case", "command", "exit", "message (first line)", "stderr lines", "traceback"], stack_rows))


def setting(value) -> str:
    """A configured number as the stack file would write it (10, not 10.00)."""
    return fmt(int(value) if isinstance(value, float) and value.is_integer() else value)


def stack_md(results: dict) -> str:
    data = results["stack"]
    rows = []
    for name, facts in data["stacks"].items():
        if "error" in facts:
            rows.append([name, "–", "–", "–", f"failed: {facts['error']}"])
            continue
        rows.append([name, fmt(facts["evaluate_s"], 2, " s"), fmt(facts["import_s"], 2, " s"), facts["resources"],
                     len(facts.get("warnings") or [])])
    text = table(["stack", "evaluate (mocks)", "imports", "resources", "warnings"], rows)
    deploy = data["deploy"]
    columns = [("AWS defaults", deploy["aws_defaults"])] + [(f"{s} (configured)", m) for s, m in deploy["stacks"].items()]
    settings = [("health check interval", "interval_s"), ("healthy threshold", "healthy_threshold"),
                ("grace period", "grace_period_s"), ("deregistration delay", "deregistration_delay_s"),
                ("stop timeout", "stop_timeout_s")]
    phases = [("provisioning + image pull (assumed)", "provision_s"), ("first passing check after boot", "first_passing_check_s"),
              ("new task serving after", "new_task_serving_s"), ("deregistration delay", "deregistration_s"),
              ("SIGTERM to exit (measured)", "sigterm_to_exit_s"), ("**rolling deploy total**", "total_s")]
    rows = [[label] + [setting(c["configured"].get(key)) for _, c in columns] for label, key in settings]
    rows += [[label] + [fmt(c["model"].get(key), 1, " s") for _, c in columns] for label, key in phases]
    rows.append(["new task killed while booting?"] + [fmt(c["model"]["killed_while_booting"]) for _, c in columns])
    text += ("\n\nModel of one rolling deploy of `web` (100 % / 200 %), with our measured boot of "
             f"{fmt(deploy['boot_s'], 2, ' s')} and SIGTERM-to-exit of {fmt(deploy['exit_s'], 2, ' s')}:\n\n"
             + table(["", *[name for name, _ in columns]], rows))
    return text


SECTIONS = (
    ("1. Cold start", "cold_start", cold_start_md, "cold_start.png"),
    ("2. Throughput and latency", "throughput", throughput_md, "throughput.png"),
    ("2b. gunicorn release", "throughput", gunicorn_md, None),
    ("3. Memory", "throughput", memory_md, "memory.png"),
    ("4. Graceful shutdown", "shutdown", shutdown_md, None),
    ("5. Task durability", "tasks", tasks_md, None),
    ("6. Outages", "outages", outages_md, None),
    ("7. Bad input", "bad_input", bad_input_md, None),
    ("8. Stack", "stack", stack_md, "deploy.png"),
)


def write(results: dict, out: Path) -> None:
    meta = results["meta"]
    drawn = charts.draw_all(results, out)
    parts = [
        "# Keel benchmarks and fault drills",
        "",
        f"Generated by `bench/run{' --quick' if meta['quick'] else ''}` on {meta['started']} in "
        f"{meta.get('duration_s', 0):.0f} s: {meta['cpus']} CPUs, Python {meta['python']}, Django {meta['django']}, "
        f"gunicorn {meta['gunicorn']}, Celery {meta['celery']}. Load average before/after: "
        f"{', '.join(f'{x:.2f}' for x in meta['load_before'])} / {', '.join(f'{x:.2f}' for x in meta.get('load_after', []))}"
        " (the machine is shared: absolute figures are noisy, ratios within one run are the point). "
        "All figures are in `results.json`.",
        "",
        "## Goals",
        "",
        goals_md(results),
    ]
    for title, key, render, chart in SECTIONS:
        parts += ["", f"## {title}", ""]
        problem = section_error(results, key)
        if problem:
            parts.append(f"Section {problem}.")
            continue
        try:
            parts.append(render(results))
        except (KeyError, TypeError) as exc:
            parts.append(f"(could not render: {type(exc).__name__}: {exc})")
        if chart and chart in drawn:
            parts += ["", f"![{title}]({chart})"]
    parts += ["", "## Notes", "", NOTES]
    (out / "RESULTS.md").write_text("\n".join(parts) + "\n")


NOTES = """\
- Baselines: `startproject` is a plain `django-admin startproject` built by the bench under
  `bench/work/`, with production settings (DEBUG off, Postgres with persistent connections, no
  extra middleware), a trivial `/healthz` view and a `/db` JSON view listing 20 users. The limit is
  a bare WSGI callable (`bench/apps/hello.py`) answering `/healthz` with a constant and `/db` with
  the same query over plain psycopg. All are served by the same gunicorn with our worker count,
  worker class, threads and keep-alive (read from our `gunicorn.conf.py` with `--print-config`).
- Our DB-reading view is `GET /api/documents/` as a signed-in user with 20 documents: it does
  more than the baselines' view (session and user lookups, pagination), by design of the app.
- Our web runs in production mode with JSON access logs on stdout, as on ECS; the baselines log
  nothing per request.
- The slow endpoint of the shutdown drill is a bench-only WSGI wrapper (`bench/apps/slow.py`);
  the app itself has no slow route.
- Outage drills use a private Redis and a private Postgres (initdb into `bench/work/`), never the
  shared servers.
"""


def summary(results: dict) -> str:
    lines = ["", "bench summary"]
    for goal in results.get("goals", []):
        mark = {True: "met   ", False: "MISSED", None: "n/a   "}[goal["met"]]
        lines.append(f"  {mark} {goal['goal']}: {goal['measured']} (goal {goal['target']})")
    for name in results["meta"]["sections"]:
        problem = section_error(results, name)
        if problem:
            lines.append(f"  section {name} {problem}")
    lines.append(f"  wrote bench/results.json and bench/RESULTS.md in {results['meta'].get('duration_s', 0):.0f} s")
    return "\n".join(lines)
