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


VIEW_TITLES = {"healthz": "/healthz (trivial)", "db": "users JSON (/db)", "documents": "documents list"}


def baseline_of(name: str) -> str:
    """What a target is compared with: startproject under the same recycling setting."""
    return "startproject-no-recycle" if name.endswith("-no-recycle") else "startproject"


def samples(values: list, digits: int) -> str:
    return ", ".join(fmt(v, digits) for v in values)


def throughput_md(results: dict) -> str:
    data = results["throughput"]
    targets = data["targets"]
    rows = []
    for view, title in VIEW_TITLES.items():
        for name, entry in targets.items():
            if view not in entry["runs"]:
                continue
            summary = (entry.get("summary") or {}).get(view)
            if summary is None:
                rows.append([title, entry["label"], f"status {entry['status'].get(view)}"] + ["–"] * 9)
                continue
            base = ((targets.get(baseline_of(name)) or {}).get("summary") or {}).get(view) or {}
            cpu = summary["server_cpu_ms_per_request"]
            ratio = cpu / base["server_cpu_ms_per_request"] if cpu and base.get("server_cpu_ms_per_request") else None
            rows.append([title, entry["label"], fmt(cpu, 3, " ms"), fmt(ratio, 2, "x"),
                         samples(summary["cpu_samples_ms"], 3), fmt(summary["rps"], 0),
                         samples(summary["rps_samples"], 0), fmt(summary["p99_ms"], 1, " ms"),
                         fmt(summary["access_lines_per_request"], 2), summary["recycled_workers"],
                         fmt(summary["busier_worker_excess_pct"], 0, " %"), summary["failed"]])
    settings = results["meta"].get("gunicorn_settings", {})
    return (f"wrk, {data['rounds']} interleaved rounds of {data['seconds']:g} s per target and view, "
            f"{data['connections']} kept-alive connections (as a load balancer keeps them), 2 threads. Every "
            "target runs under our `app/gunicorn.conf.py` (same workers, threads, keep-alive, `max_requests` "
            f"{settings.get('max_requests')} +- {settings.get('max_requests_jitter')}, preloading, JSON access "
            "logger, connection balancing); the `max_requests off` rows add `--max-requests 0` and nothing else. "
            "Figures are medians over the rounds, with every sample beside. The ratio compares with startproject "
            "under the same recycling setting (the documents list with startproject's like-for-like view).\n\n"
            + table(["view", "target", "CPU/request", "vs startproject", "CPU samples (ms)", "req/s", "req/s samples",
                     "p99", "access lines/request", "recycled workers", "busier worker's excess CPU", "failed"],
                    rows)
            + "\n\nServer CPU per request is the CPU time of the gunicorn master and workers (recycled workers "
              "included) divided by the requests served: unlike req/s it hardly moves when other processes "
              "load the machine (2 cores shared with other work here). Access lines per request is counted "
              "from each server's log during the sample: 0 for successful health probes by design (a summary "
              "line counts them), 1 elsewhere. The busier worker's excess CPU is how much more CPU the busier "
              "of the two workers used than the other, summed over 1 s intervals in which both lived "
              "(median over the samples; 0 % is an even split); recycled workers counts the workers replaced "
              "during the samples.")


def memory_rows(label: str, mem: dict) -> list:
    return [label, fmt(mem["main_pss_mib"], 1), samples(mem["children_pss_mib"], 1), fmt(mem["total_pss_mib"], 1),
            fmt(mem["main_rss_mib"], 1), samples(mem["children_rss_mib"], 1), fmt(mem["total_rss_mib"], 1)]


def memory_md(results: dict) -> str:
    header = ["process tree", "main PSS", "children PSS", "total PSS", "main RSS", "children RSS", "total RSS"]
    rows = [memory_rows(results["throughput"]["targets"][name]["label"], mem)
            for name, mem in (results.get("throughput", {}).get("memory") or {}).items()]
    text = ("MiB after the throughput runs (warm), from each process's `/proc/PID/smaps_rollup`. PSS splits a "
            "page shared by several processes (the preloaded app a master shares with its forks) between them, "
            "so the total PSS is what the tree really occupies; RSS counts shared pages in full for every "
            "process.\n\n" + table(header, rows))
    celery = (results.get("tasks") or {}).get("memory")
    if celery:
        labels = {"preloaded": "Celery worker as configured (preloaded and frozen before the first fork, heap "
                               "trimmed before each fork and after each task)",
                  "not_preloaded": "Celery worker without any of that (bench/apps/celery_plain.py)",
                  "in_image": "Celery worker as configured, inside the image (keel-app, its interpreter and user)"}
        rows = [memory_rows(labels[key], celery[key]) for key in ("preloaded", "not_preloaded", "in_image")
                if (celery.get(key) or {}).get("total_pss_mib") is not None]
        first = celery.get("preloaded") or {}
        text += (f"\n\nCelery worker, `--concurrency {first.get('concurrency')}`, run from a virtualenv made from "
                 "`requirements/app.txt` only (the image's packages), and inside the built image where there is one, "
                 "after processing "
                 f"{first.get('tasks')} documents (the pool processes idle again):\n\n" + table(header, rows))
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


def slow_senders_md(results: dict) -> str:
    from bench.sections.slow_senders import markdown

    return markdown(results)


SECTIONS = (
    ("1. Cold start", "cold_start", cold_start_md, "cold_start.png"),
    ("2. CPU per request, throughput and the workers' share", "throughput", throughput_md, "throughput.png"),
    ("3. Memory", "throughput", memory_md, "memory.png"),
    ("4. Graceful shutdown", "shutdown", shutdown_md, None),
    ("5. Task durability", "tasks", tasks_md, None),
    ("6. Outages", "outages", outages_md, None),
    ("7. Bad input", "bad_input", bad_input_md, None),
    ("8. Stack", "stack", stack_md, "deploy.png"),
    ("9. Hardening: slow senders and the cost of each protection", "slow_senders", slow_senders_md, None),
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
  `bench/work/`, with production settings (DEBUG off, Postgres with persistent connections, its
  default middleware and database sessions), a trivial `/healthz` view, a `/db` JSON view listing
  20 users, and `/documents/`, the documents list's like-for-like baseline: a signed-in user (a
  database session, the user), `Paginator` (COUNT) and a page of 20 model instances with our
  Document's columns, as JSON with the same fields and links. The limit is a bare WSGI callable
  (`bench/apps/hello.py`) answering `/healthz` with a constant and `/db` with the users query
  over plain psycopg.
- Every target is served by the same gunicorn with our `app/gunicorn.conf.py` (so also the same
  JSON access logger, which writes no line for a successful `/healthz`, on every target).
- Our documents list is `GET /api/documents/` as a signed-in user with 20 documents who holds
  the csrftoken cookie, as a browser or API client does after its first answer.
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
