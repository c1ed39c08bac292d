"""The bench's own logic: reading wrk, judging goals, the deploy model, drill bookkeeping.

Part of the suite (pyproject testpaths); alone: .venv/bin/python -m pytest -p no:django bench/tests -q
"""

import signal

import pytest

from bench import goals, harness, workers, wrk
from bench.sections import bad_input, outages, shutdown, stack, tasks

REPORT = """Running 10s test @ http://127.0.0.1:8000/healthz
  2 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     8.86ms    6.47ms  99.06ms   84.38%
    Req/Sec     0.96k   183.11     1.35k    71.00%
  Latency Distribution
     50%  812.00us
     75%   11.06ms
     90%   15.82ms
     99%    1.20s
  19195 requests in 10.01s, 3.11MB read
  Socket errors: connect 0, read 3, write 0, timeout 2
  Non-2xx or 3xx responses: 7
Requests/sec:   1917.61
Transfer/sec:    318.38KB
"""


def test_wrk_report_is_read_into_rps_percentiles_and_failures():
    result = wrk.parse(REPORT)
    assert result.rps == 1917.61
    assert result.p50_ms == pytest.approx(0.812)
    assert result.p99_ms == 1200.0
    assert result.requests == 19195
    assert result.failed == 12  # 7 bad statuses + 5 socket errors


def test_wrk_report_without_errors_counts_none():
    clean = REPORT.replace("  Socket errors: connect 0, read 3, write 0, timeout 2\n", "").replace(
        "  Non-2xx or 3xx responses: 7\n", "")
    assert wrk.parse(clean).failed == 0


def test_wrk_report_without_figures_is_an_error():
    with pytest.raises(ValueError, match="Requests/sec"):
        wrk.parse("unable to connect to 127.0.0.1:1 Connection refused")


def view(cpu: float, rps: float = 1000.0, lines: float = 1.0, recycled: int = 0, excess: float = 10.0,
         failed: int = 0) -> dict:
    return {"server_cpu_ms_per_request": cpu, "rps": rps, "access_lines_per_request": lines, "failed": failed,
            "recycled_workers": recycled, "busier_worker_excess_pct": excess}


def results(cold=(1.0, 1.0), healthz=(0.2, 0.4), documents=(0.9, 1.0), recycle_cost=1.02, excess=10.0, lost=0,
            failed=0, recover=1.0, celery_pss=140.0):
    def web(cpu_healthz, cpu_docs, recycled, factor=1.0, docs=True, errors=0):
        summary = {"healthz": view(cpu_healthz * factor, lines=0.0, recycled=recycled, excess=excess, failed=errors)}
        if docs:
            summary["documents"] = view(cpu_docs * factor, recycled=recycled, excess=excess)
        return {"summary": summary}

    return {
        "cold_start": {"targets": {"ours": {"median_s": cold[0]}, "startproject": {"median_s": cold[1]}}},
        "throughput": {"targets": {
            "ours": web(healthz[0], documents[0], 3, recycle_cost, errors=failed),
            "ours-no-recycle": web(healthz[0], documents[0], 0),
            "startproject": web(healthz[1], documents[1], 3),
            "startproject-no-recycle": web(healthz[1], documents[1], 0),
        }},
        "tasks": {"kill9": {"lost": lost, "tasks": 200}, "sigterm": {"lost": 0},
                  "memory": {"preloaded": {"total_pss_mib": celery_pss, "total_rss_mib": 250.0, "main_pss_mib": 60.0,
                                           "children_pss_mib": [40.0, 40.0]}}},
        "shutdown": {"sigterm": {"failed": failed}, "sighup": {"failed": 0}},
        "outages": {"redis": {"detect_503_s": 0.1, "recover_200_s": recover, "healthz_failures": 0},
                    "postgres": {"detect_503_s": 0.2, "recover_200_s": 0.5, "healthz_failures": 0},
                    "no_process_restarted": True},
    }


def judged(data):
    return {g["goal"]: g for g in goals.evaluate(data)}


def test_goals_met_within_the_limits():
    verdict = judged(results(cold=(1.09, 1.0), healthz=(0.26, 0.4), documents=(0.96, 1.0), recycle_cost=1.04))
    assert {name: g["met"] for name, g in verdict.items() if not g["met"]} == {}


def test_goals_missed_say_by_how_much():
    verdict = judged(results(cold=(1.5, 1.0), healthz=(0.3, 0.4), documents=(1.0, 1.0), recycle_cost=1.2,
                             excess=80.0, lost=3, failed=2, recover=6.0, celery_pss=188.0))
    assert verdict["cold start"]["met"] is False
    assert "40 percentage points" in verdict["cold start"]["note"]
    assert verdict["/healthz CPU per request"]["met"] is False
    assert "20 percentage points" in verdict["/healthz CPU per request"]["note"]
    assert verdict["documents list CPU per request"]["met"] is False
    assert "20 percentage points" in verdict["documents list CPU per request"]["note"]
    assert verdict["recycling shares the load"]["met"] is False
    assert verdict["recycling shares the load"]["measured"] == "/healthz: 1.20x, busier worker +80 %, 3 workers recycled"
    assert verdict["Celery worker memory"]["met"] is False
    assert verdict["zero lost tasks"]["met"] is False
    assert verdict["zero failed requests"]["met"] is False
    assert "SIGTERM with slow requests in flight: 2" in verdict["zero failed requests"]["note"]
    assert "throughput runs (not drills): ours healthz: 2" in verdict["zero failed requests"]["note"]
    assert verdict["outage recovery"]["met"] is False


def test_the_worker_inside_the_image_must_be_within_the_memory_limit_too():
    data = results(celery_pss=144.0)
    data["tasks"]["memory"]["in_image"] = {"total_pss_mib": 152.0, "main_pss_mib": 60.0, "children_pss_mib": [46.0, 46.0]}
    verdict = judged(data)["Celery worker memory"]
    assert verdict["met"] is False and "inside the image: 152.0 MiB" in verdict["note"]

    data["tasks"]["memory"]["in_image"] = {"skipped": "no image keel-app on this machine (bin/test builds it)"}
    verdict = judged(data)["Celery worker memory"]
    assert verdict["met"] is True and "inside the image: not measured (no image keel-app" in verdict["note"]


def test_a_variant_that_does_not_do_what_its_name_says_is_reported():
    data = results()
    data["throughput"]["targets"]["ours"]["summary"]["healthz"]["access_lines_per_request"] = 1.0
    data["throughput"]["targets"]["ours-no-recycle"]["summary"]["documents"]["recycled_workers"] = 2
    verdict = judged(data)["variants as named"]
    assert verdict["met"] is False
    assert "ours healthz: 1.00 access lines per request, 0 expected" in verdict["note"]
    assert "ours-no-recycle: 2 workers recycled with max_requests off" in verdict["note"]


def test_goals_not_run_are_reported_as_not_measured():
    verdict = judged({"meta": {}})
    assert {g["met"] for g in verdict.values()} == {None}


def test_deploy_model_with_aws_defaults_waits_for_the_deregistration_delay():
    model = stack.deploy_model(stack.AWS_DEFAULTS, boot_s=4.0, exit_s=0.5)
    assert model["first_passing_check_s"] == 30  # the first check after boot, 30 s interval
    assert model["total_s"] == stack.PROVISION_S + 30 + 300 + 0.5


def test_deploy_model_with_short_settings_is_faster_and_flags_a_slow_boot():
    ours = {"interval_s": 10, "unhealthy_threshold": 3, "deregistration_delay_s": 30, "grace_period_s": 60}
    model = stack.deploy_model(ours, boot_s=4.0, exit_s=0.5)
    assert model["total_s"] == stack.PROVISION_S + 10 + 30 + 0.5
    assert not model["killed_while_booting"]
    slow = stack.deploy_model(stack.AWS_DEFAULTS, boot_s=70.0, exit_s=0.5)
    assert slow["killed_while_booting"]  # no grace period, 2 x 30 s of failing checks before it is up


def test_capacity_counts_threads_only_for_threaded_workers():
    assert shutdown.capacity({"workers": "2", "worker_class": "gthread", "threads": "4"}) == 8
    assert shutdown.capacity({"workers": "3", "worker_class": "sync", "threads": "4"}) == 3


def test_readiness_body_names_the_failed_service():
    body = {"status": "unavailable", "failing": ["cache", "broker"],
            "checks": {"cache": {"ok": False, "error": "ConnectionError: Error 111"}}}
    assert outages.names_service(body, "redis")
    assert not outages.names_service(body, "postgres")
    assert not outages.names_service({"status": "ok", "failing": []}, "redis")


def test_task_executions_are_counted_per_task_id():
    a, b = "0f8fad5b-d9cb-469f-a165-70867728950e", "7c9e6679-7425-40de-944b-e07fc1f90ae7"
    log = "\n".join([
        f'{{"message": "Task documents.tasks.process_document[{a}] succeeded in 0.01s"}}',
        f'{{"message": "Task documents.tasks.process_document[{a}] succeeded in 0.02s"}}',
        f'{{"message": "Task documents.tasks.process_document[{b}] received"}}',
    ])
    counts = tasks.executions(log, [a, b])
    assert counts[a] == 2 and counts[b] == 0


def test_bad_input_output_keeps_the_problem_lines_and_spots_tracebacks():
    stderr = ("keel: the environment is not a valid configuration (1 problem):\n"
              "  PORT: 'x' is not a whole number.\nkeel: fix the variables above\n")
    summary = bad_input.summarise_output(stderr, "")
    assert summary["message"] == "PORT: 'x' is not a whole number."
    assert summary["lines"] == 3 and not summary["traceback"]
    crash = bad_input.summarise_output("Traceback (most recent call last):\n  File x\nValueError: y\n", "")
    assert crash["traceback"]


def test_stopped_process_group_leaves_no_process_behind():
    # The leader ignores SIGTERM, so only the group kill can end it and its child.
    proc = harness.start("test-sleeper", ["sh", "-c", "trap '' TERM; sleep 60 & wait"])
    assert harness.wait_until(lambda: harness.children(proc.pid), timeout=5) is not None
    child = harness.children(proc.pid)[0]
    proc.stop(signal.SIGTERM, timeout=2)
    assert not proc.alive()
    assert harness.rss_mib(child) is None  # the backgrounded child went with its group


def test_worker_sampler_counts_each_workers_connections_from_its_sockets():
    import http.client
    import sys

    port = harness.free_port()
    # A master with two forked children, each accepting on the one listening socket.
    server = harness.start("test-two-workers", [sys.executable, "-c", TWO_WORKERS, str(port)])
    try:
        assert harness.wait_until(lambda: len(harness.children(server.pid)) == 2, timeout=10) is not None
        clients = [http.client.HTTPConnection("127.0.0.1", port, timeout=5) for _ in range(3)]
        for client in clients:
            client.connect()
        assert harness.wait_until(
            lambda: sum(workers.connections_per_worker(server.pid, port).values()) == 3, timeout=10) is not None
        memory = workers.tree_memory(server.pid)
        assert len(memory["children_pss_mib"]) == 2 and memory["total_pss_mib"] < memory["total_rss_mib"]
    finally:
        for client in clients:
            client.close()
        server.stop()


TWO_WORKERS = """
import os, socket, sys, time
listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", int(sys.argv[1])))
listener.listen(16)
for _ in range(2):
    if os.fork() == 0:
        held = []
        while True:
            held.append(listener.accept()[0])
time.sleep(60)
"""


def test_busier_worker_share_is_summed_over_intervals_both_workers_lived():
    sampler = workers.Sampler(master=0, port=0)
    sampler._initial = {1, 2}
    sampler.pids_seen = {1, 2, 3}
    sampler.samples = [
        {"connections": {1: 8, 2: 8}, "cpu_s": {1: 0.6, 2: 0.4}},
        {"connections": {1: 16, 3: 0}, "cpu_s": {1: 1.0, 3: None}},  # 3 just started: not counted
        {"connections": {1: 8, 3: 8}, "cpu_s": {1: 0.5, 3: 0.5}},
    ]
    summary = sampler.summary()
    assert summary["intervals"] == 2 and summary["recycled_workers"] == 1
    assert summary["busier_worker_excess_pct"] == pytest.approx((1.1 / 0.9 - 1) * 100)
    assert summary["busiest_worker_connection_share"] == pytest.approx(16 / 32)
