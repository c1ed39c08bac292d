"""5. Task durability: 200 queued document tasks; kill -9 the worker mid-run, then SIGTERM it.

The worker runs the Procfile's command against the private Redis with a short
CELERY_VISIBILITY_TIMEOUT, so messages a killed worker held come back within the drill.
Every document must end processed, and the worker log shows how many times each task ran
(a redelivered task may run twice; the app's conditional update keeps one result).
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from collections import Counter

import psycopg

from bench import harness, ourapp, targets, workers

VISIBILITY_TIMEOUT = 10  # the contract's minimum
TABLE = "documents_document"

QUEUE = """
import json
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from documents.models import Document
from documents.tasks import process_document

user, _ = get_user_model().objects.get_or_create(username={username!r})
ids = []
for i in range({count}):
    doc = Document(owner=user, original_name=f"{tag}-{{i}}.txt")
    doc.file.save(doc.original_name, ContentFile(b"{tag} document %d " % i * 64), save=False)
    doc.save()
    ids.append(doc.pk)
tasks = [process_document.delay(pk).id for pk in ids]
print(json.dumps({{"documents": ids, "tasks": tasks}}))
"""


def queue_documents(environment: dict[str, str], tag: str, count: int) -> dict:
    """Create ``count`` documents and queue one processing task each (no worker running yet)."""
    out = ourapp.manage(environment, "shell", "-c", QUEUE.format(username=f"bench-{tag}", count=count, tag=tag),
                        timeout=300)
    return json.loads(out.stdout.strip().splitlines()[-1])


def processed_count(database_url: str, ids: list[int]) -> int:
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(f"SELECT count(*) FROM {TABLE} WHERE status = 'processed' AND id = ANY(%s)",
                           (ids,)).fetchone()
    return row[0]


def statuses(database_url: str, ids: list[int]) -> dict[str, int]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute(f"SELECT status, count(*) FROM {TABLE} WHERE id = ANY(%s) GROUP BY status",
                            (ids,)).fetchall()
    return dict(rows)


def executions(log_text: str, task_ids: list[str]) -> Counter:
    """How many times each task id is logged as succeeded."""
    wanted = set(task_ids)
    seen: Counter = Counter()
    for line in log_text.splitlines():
        if "succeeded" in line:
            for task_id in re.findall(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", line):
                if task_id in wanted:
                    seen[task_id] += 1
                    break
    return seen


def start_worker(environment: dict[str, str], name: str) -> harness.Proc:
    return harness.start(name, ourapp.worker_argv(), env=environment, cwd=targets.APP)


def worker_memory(proc: harness.Proc) -> dict:
    pool = harness.children(proc.pid)
    return {"main_mib": harness.rss_mib(proc.pid), "pool_mib": [harness.rss_mib(p) for p in pool]}


def drill(environment: dict[str, str], database_url: str, tag: str, count: int, sig: int,
          measure_memory: bool = False, deferred: list | None = None) -> dict:
    """Queue, start a worker, hit it with ``sig`` at ~30 % done, start a fresh one, wait for all.

    After SIGTERM the old worker drains for up to the soft-shutdown timeout; with ``deferred``
    the wait for its exit is appended there as a callable (run later, while other sections
    go on) instead of blocking here.
    """
    queued = queue_documents(environment, tag, count)
    ids, task_ids = queued["documents"], queued["tasks"]
    first = start_worker(environment, f"worker-{tag}-1")
    second = None
    result: dict = {"tasks": count, "signal": signal.Signals(sig).name}
    handed_over = False
    try:
        started = time.monotonic()
        if harness.wait_until(lambda: processed_count(database_url, ids) >= count * 0.3, 120, 0.05) is None:
            raise RuntimeError(f"worker processed too little; see {first.log}")
        if measure_memory:
            result["memory"] = worker_memory(first)
        result["processed_at_signal"] = processed_count(database_url, ids)
        if sig == signal.SIGKILL:
            harness.kill_group(first.pid)  # the whole container dies: main process and pool children
            first.popen.wait(timeout=10)
        else:
            first.watch_exit()
            first.send(sig)
        signalled = time.monotonic()
        # As a rolling deploy does (100 % / 200 %): the new worker starts while the old one drains.
        second = start_worker(environment, f"worker-{tag}-2")
        done = harness.wait_until(lambda: processed_count(database_url, ids) >= count,
                                  VISIBILITY_TIMEOUT * 6 + 60, 0.1)
        result["all_done_after_s"] = None if done is None else time.monotonic() - started
        result["all_done_after_signal_s"] = None if done is None else time.monotonic() - signalled

        def finish() -> None:
            """Wait for the signalled worker to exit, then count results and stop both workers."""
            try:
                if first.alive():
                    first.wait_exit(timeout=max(1.0, 150 - (time.monotonic() - signalled)))
                if sig != signal.SIGKILL:
                    result["worker_exit_s"] = None if first.alive() else first_exit(first, signalled)
                result["restored_log_line"] = next(
                    (line.strip()[:200] for line in first.log_text().splitlines() if "Restoring" in line), None)
                final = statuses(database_url, ids)
                runs = executions(first.log_text() + second.log_text(), task_ids)
                result.update({
                    "statuses": final,
                    "processed": final.get("processed", 0),
                    "lost": count - final.get("processed", 0),
                    "executions_logged": sum(runs.values()),
                    "tasks_run_more_than_once": sum(1 for n in runs.values() if n > 1),
                    "tasks_never_logged": sum(1 for t in task_ids if runs[t] == 0),
                })
            finally:
                first.stop()
                second.stop()

        if deferred is not None and sig != signal.SIGKILL:
            deferred.append(finish)
            handed_over = True
        else:
            finish()
    finally:
        if not handed_over:
            first.stop()
            if second is not None:
                second.stop()
    return result


def first_exit(proc: harness.Proc, signalled: float) -> float:
    """Seconds from the signal to the process's exit (its Popen records when it was reaped)."""
    return proc.exited_at - signalled if proc.exited_at is not None else time.monotonic() - signalled


MEMORY_CONCURRENCY = 2
MEMORY_TASKS = 20


def memory_drill(environment: dict[str, str], database_url: str, bin_dir, app_module: str, tag: str) -> dict:
    """PSS and RSS of a worker (main process and its ``MEMORY_CONCURRENCY`` pool processes) after it
    processed ``MEMORY_TASKS`` documents, run from ``bin_dir`` (the image's packages only)."""
    queued = queue_documents(environment, tag, MEMORY_TASKS)
    argv = [str(bin_dir / "celery"), "--app", app_module, "worker", "--without-mingle", "--without-gossip",
            "--concurrency", str(MEMORY_CONCURRENCY)]
    worker = harness.start(f"worker-{tag}", argv, env=environment | {"PYTHONPATH": str(harness.REPO)},
                           cwd=targets.APP)
    try:
        ids = queued["documents"]
        if harness.wait_until(lambda: processed_count(database_url, ids) >= len(ids), 120, 0.1) is None:
            raise RuntimeError(f"worker processed too little; see {worker.log}")
        time.sleep(1.0)  # the pool processes are idle again
        memory = workers.tree_memory(worker.pid)
    finally:
        worker.stop()
    return {"app": app_module, "concurrency": MEMORY_CONCURRENCY, "tasks": len(ids), **memory}


IMAGE = "keel-app"  # the tag bin/test's image tests build (tests/parity/conftest.py)


def image_memory_drill(environment: dict[str, str], database_url: str) -> dict:
    """The same drill with the Procfile's worker inside the built image: its interpreter, its packages,
    its user. The venv figures share the interpreter's file pages with every Python process on the
    machine; in a container nothing else maps them. Skipped (with the reason) where there is no image."""
    from tests.parity import oci  # the containers of the image tests: buildah run on the host network

    reason = oci.unusable_reason()
    if reason is None:
        try:
            oci.image_config(IMAGE)
        except subprocess.CalledProcessError:
            reason = f"no image {IMAGE} on this machine (bin/test builds it)"
    if reason is not None:
        return {"skipped": reason}
    queued = queue_documents(environment, "mem-image", MEMORY_TASKS)
    command = [*targets.procfile()["worker"], "--concurrency", str(MEMORY_CONCURRENCY)]
    own = {k: v for k, v in environment.items() if k not in targets.base_env()}  # the image has its PATH
    container = oci.Container(IMAGE, "bench-worker", command, own, harness.LOGS)
    try:
        ids = queued["documents"]
        if harness.wait_until(lambda: processed_count(database_url, ids) >= len(ids), 180, 0.1) is None:
            raise RuntimeError(f"the image's worker processed too little; see {container.log_path}")
        time.sleep(1.0)  # the pool processes are idle again
        memory = workers.tree_memory(container.running_process())
    finally:
        try:
            container.stop(30)
        finally:
            container.remove()
    return {"image": IMAGE, "concurrency": MEMORY_CONCURRENCY, "tasks": len(ids), **memory}


def run_memory(environment: dict[str, str], database_url: str, bin_dir) -> dict:
    """The worker's memory with the image's packages: as configured, and without the preloading;
    and as configured inside the image itself, where it is built."""
    return {
        "packages": "requirements/app.txt only",
        "preloaded": memory_drill(environment, database_url, bin_dir, "config.celery", "mem-preloaded"),
        "not_preloaded": memory_drill(environment, database_url, bin_dir, "bench.apps.celery_plain", "mem-plain"),
        "in_image": image_memory_drill(environment, database_url),
    }


def run(environment: dict[str, str], database_url: str, count: int, deferred: list | None = None,
        app_bin=None) -> dict:
    environment = environment | {"CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT)}
    memory = run_memory(environment, database_url, app_bin) if app_bin is not None else None
    return {
        "memory": memory,
        "visibility_timeout_s": VISIBILITY_TIMEOUT,
        "kill9": drill(environment, database_url, "kill9", count, signal.SIGKILL),
        "sigterm": drill(environment, database_url, "sigterm", count, signal.SIGTERM, measure_memory=True,
                         deferred=deferred),
    }
