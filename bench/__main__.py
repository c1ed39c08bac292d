"""`bench/run [--quick] [--only SECTION,...]`: every benchmark and drill in one run.

Starts its own backing services (a private Redis, an S3 test server, for the outage drill a
private Postgres), builds the baselines, runs each section in turn, writes bench/results.json
and bench/RESULTS.md with charts, prints a summary, and stops every process it started.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
import traceback
from pathlib import Path

from bench import app_venv, goals, harness, ourapp, report, services, targets, wrk
from bench.sections import bad_input, cold_start, outages, shutdown, slow_senders, stack, tasks, throughput

# The Celery SIGTERM drill's old worker drains for the soft-shutdown timeout while bad_input and
# stack run (they touch neither Redis nor the workers); outages, which stop Redis, wait for it.
SECTIONS = ("cold_start", "throughput", "shutdown", "tasks", "bad_input", "stack", "outages", "slow_senders")
OUT = harness.REPO / "bench"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/run", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="a fast subset: fewer cold starts, 2 s wrk samples, 50 tasks")
    parser.add_argument("--only", default="", help=f"comma-separated sections to run (of: {', '.join(SECTIONS)})")
    parser.add_argument("--out", default=str(OUT), help="where results.json, RESULTS.md and the charts go")
    parser.add_argument("--report-only", action="store_true",
                        help="rewrite RESULTS.md and the charts from the existing results.json, run nothing")
    return parser.parse_args(argv)


class Lab:
    """Everything the sections share: services, our app's environment, the targets."""

    def __init__(self, quick: bool):
        self.quick = quick
        self.redis = services.PrivateRedis()
        self.s3 = services.S3Server()
        self.database_url = f"{services.SHARED_PG}/{services.DATABASE}"
        self.facts: dict = {}
        self.deferred: list = []  # work a section left running, finished before outages or at the end

    def setup(self) -> None:
        step = time.monotonic()
        self.redis.start()
        self.s3.start(ourapp.BUCKET)
        services.recreate_database(services.SHARED_PG, services.DATABASE)
        self.services = ourapp.Services(self.database_url, self.redis.url, self.s3.url)
        self.env = ourapp.env(self.services)
        self.facts["release_s"] = ourapp.release(self.env)
        self.cookie = ourapp.seed_user(self.env)
        baseline_cookie = targets.build_baseline(services.SHARED_PG, services.DATABASE)
        self.ours = ourapp.web_target(self.env, self.cookie)
        self.gunicorn = self.ours.gunicorn_settings()
        self.baseline = targets.baseline_target(self.env, baseline_cookie)
        self.hello = targets.hello_target(targets.baseline_db_url(services.SHARED_PG, services.DATABASE), self.env)
        self.app_bin = app_venv.ensure()
        self.facts["setup_s"] = time.monotonic() - step

    def web_targets(self) -> list[targets.Target]:
        return [self.ours, self.baseline, self.hello]

    def throughput_targets(self) -> list[targets.Target]:
        """Each web target as configured (recycling on) and with ``--max-requests 0``; and ours with
        gunicorn's own accept instead of the connection balancing, on /healthz."""
        chosen = []
        for target in self.web_targets():
            chosen += [target, target.variant(f"{target.name}-no-recycle", f"{target.label}, max_requests off",
                                              "--max-requests", "0")]
        unbalanced = self.ours.variant("ours-unbalanced", "ours, gunicorn's own accept (no balancing)")
        unbalanced.argv = [str(harness.REPO / "bench" / "apps" / "unbalanced_gunicorn.py") if a == "gunicorn.conf.py"
                           else a for a in unbalanced.argv]
        unbalanced.views = ("healthz",)
        return [*chosen, unbalanced]

    def finish_deferred(self) -> None:
        while self.deferred:
            self.deferred.pop(0)()

    def teardown(self) -> None:
        try:
            self.finish_deferred()
        except Exception as exc:  # the figures of the other sections must still be written
            print(f"bench: finishing a deferred drill failed: {exc}", file=sys.stderr)
        self.s3.stop()
        self.redis.stop()


def versions() -> dict:
    import celery
    import django
    import gunicorn

    return {"python": platform.python_version(), "django": django.get_version(), "celery": celery.__version__,
            "gunicorn": gunicorn.__version__}


def run_sections(lab: Lab, chosen: list[str], results: dict) -> None:
    quick = lab.quick
    for name in chosen:
        started = time.monotonic()
        if name == "outages":
            lab.finish_deferred()
        print(f"bench: {name} ...", flush=True)
        try:
            results[name] = SECTION_RUNNERS[name](lab, results, quick)
        except Exception as exc:  # one broken section must not lose the others' figures
            results[name] = {"error": f"{type(exc).__name__}: {exc}".splitlines()[0],
                             "traceback": traceback.format_exc()}
            print(f"bench: {name} failed: {results[name]['error']}", flush=True)
        results.setdefault("section_seconds", {})[name] = round(time.monotonic() - started, 1)


def run_cold_start(lab: Lab, results: dict, quick: bool) -> dict:
    result = cold_start.run(lab.web_targets(), runs=3 if quick else 5)
    result["diagnosis"] = cold_start.diagnose(lab.ours, lab.baseline)
    return result


def run_throughput(lab: Lab, results: dict, quick: bool) -> dict:
    if not wrk.available():
        raise RuntimeError("wrk is not installed (Debian: apt-get install wrk)")
    return throughput.run(lab.throughput_targets(), seconds=2 if quick else 6, rounds=3 if quick else 4)


def run_shutdown(lab: Lab, results: dict, quick: bool) -> dict:
    slow = ourapp.web_target(lab.env, lab.cookie, name="ours-slow", wsgi="bench.apps.slow:application")
    return shutdown.run(slow, lab.ours, wrk_seconds=5 if quick else 10)


def run_tasks(lab: Lab, results: dict, quick: bool) -> dict:
    return tasks.run(lab.env, lab.database_url, count=50 if quick else 200, deferred=lab.deferred,
                     app_bin=lab.app_bin)


def run_outages(lab: Lab, results: dict, quick: bool) -> dict:
    postgres = services.PrivatePostgres()
    postgres.init()
    postgres.start()
    try:
        database_url = services.recreate_database(postgres.server_url, services.DATABASE)
        env = ourapp.env(ourapp.Services(database_url, lab.redis.url, lab.s3.url))
        ourapp.release(env)
        web = ourapp.web_target(env, "", name="outage-web")
        return outages.run(web, env, lab.redis, postgres, database_url)
    finally:
        postgres.stop()
        postgres.remove()


def run_bad_input(lab: Lab, results: dict, quick: bool) -> dict:
    return bad_input.run(lab.services)


def run_stack(lab: Lab, results: dict, quick: bool) -> dict:
    boot = (results.get("cold_start") or {}).get("targets", {}).get("ours", {}).get("median_s") or 0.0
    exit_s = (results.get("shutdown") or {}).get("sigterm", {}).get("master_exit_after_last_response_s") or 0.0
    return stack.run(boot, max(exit_s, 0.0), stacks=("dev",) if quick else stack.STACKS)


def run_slow_senders(lab: Lab, results: dict, quick: bool) -> dict:
    return slow_senders.run(lab.ours, quick)


SECTION_RUNNERS = {
    "cold_start": run_cold_start, "throughput": run_throughput, "shutdown": run_shutdown, "tasks": run_tasks,
    "outages": run_outages, "bad_input": run_bad_input, "stack": run_stack, "slow_senders": run_slow_senders,
}


def without_machine_paths(text: str) -> str:
    """Committed results name no absolute path of this machine (error messages quote log files)."""
    for path, shown in ((str(harness.REPO), "."), (str(Path.home()), "~"), (sys.prefix, "<venv>"),
                        (sys.base_prefix, "<python>")):
        text = text.replace(json.dumps(path)[1:-1], shown)
    return text


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    chosen = [s.strip() for s in args.only.split(",") if s.strip()] or list(SECTIONS)
    unknown = set(chosen) - set(SECTIONS)
    if unknown:
        print(f"bench: unknown section(s) {', '.join(sorted(unknown))}; choose from {', '.join(SECTIONS)}",
              file=sys.stderr)
        return 2
    if args.report_only:
        results = json.loads((Path(args.out) / "results.json").read_text())
        results["goals"] = goals.evaluate(results)
        report.write(results, Path(args.out))
        print(report.summary(results))
        return 0
    harness.install_cleanup()
    shutil.rmtree(harness.LOGS, ignore_errors=True)  # this run's logs only
    started = time.time()
    results: dict = {"meta": {
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)), "quick": args.quick,
        "sections": chosen, "cpus": os.cpu_count(), "load_before": os.getloadavg(), **versions()}}
    lab = Lab(args.quick)
    lab.facts.update(gunicorn=results["meta"]["gunicorn"])
    try:
        lab.setup()
        results["meta"]["gunicorn_settings"] = {k: lab.gunicorn.get(k) for k in (
            "workers", "worker_class", "threads", "keepalive", "timeout", "graceful_timeout", "max_requests",
            "max_requests_jitter", "preload_app")}
        run_sections(lab, chosen, results)
    except KeyboardInterrupt:
        print("bench: interrupted; stopping every process it started", file=sys.stderr)
        return 130
    finally:
        lab.teardown()
        harness.cleanup_all()
    results["meta"].update(lab.facts, load_after=os.getloadavg(), duration_s=round(time.time() - started, 1))
    results["goals"] = goals.evaluate(results)
    results = json.loads(without_machine_paths(json.dumps(results, default=str)))
    out = Path(args.out)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    report.write(results, out)
    print(report.summary(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
