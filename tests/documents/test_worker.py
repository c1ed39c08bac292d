"""A real Celery worker process (the Procfile's `celery --app config.celery worker`) processes an
upload: web commits the row, the task travels through Redis, the worker reads the committed row
from the test database and the object from the moto S3 server, and marks it processed."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
import uuid
from urllib.parse import urlsplit

import pytest
from django.db import connection
from documents.models import Document

WAIT_SECONDS = 30  # worker start-up plus one task; generous for a loaded 2-core machine


def database_url_of_the_test_database() -> str:
    """DATABASE_URL with the test database's name (pytest-django's test_<name>), so the worker
    sees the rows this test commits."""
    url = urlsplit(os.environ["DATABASE_URL"])
    return url._replace(path="/" + connection.settings_dict["NAME"]).geturl()


@pytest.fixture
def private_queue():
    """Route process_document to a queue of its own for this test: a developer's worker on the
    same broker cannot steal the task, and this test's worker takes nothing else. (One fixed
    name, so repeated runs leave no new broker keys behind; it is emptied first.)"""
    from config.celery import app

    queue = "keel-test-documents"
    with app.connection_for_write() as broker:
        broker.default_channel.queue_purge(queue)
    previous = app.conf.task_routes
    app.conf.update(task_routes={"documents.tasks.process_document": {"queue": queue}})
    try:
        yield queue
    finally:
        app.conf.update(task_routes=previous)


@pytest.fixture
def celery_worker(transactional_db, s3_server, private_queue, app_dir, subprocess_env, tmp_path):
    log_path = tmp_path / "worker.log"
    env = {**subprocess_env, "DATABASE_URL": database_url_of_the_test_database(), "LOG_FORMAT": "console"}
    command = [
        sys.executable, "-m", "celery", "--app", "config.celery", "worker", "--queues", private_queue,
        "--pool", "solo", "--without-mingle", "--without-gossip", "--without-heartbeat",
        "--loglevel", "INFO", "--hostname", f"{private_queue}-{uuid.uuid4().hex[:8]}@%h",
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=app_dir, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True, preexec_fn=die_with_parent)
    try:
        yield process, log_path
    finally:
        stop(process)


def die_with_parent() -> None:
    """In the child: the kernel kills the worker if pytest itself dies before the teardown."""
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def stop(process: subprocess.Popen) -> None:
    """Always end the worker, at once: SIGKILL to its own process group (it has finished the
    test's task; its graceful shutdown is not what this test is about and takes seconds)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


def wait_until_processed(document_id: int, process: subprocess.Popen, log_path) -> Document:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        document = Document.objects.get(pk=document_id)
        if document.status != Document.Status.PENDING:
            return document
        if process.poll() is not None:
            pytest.fail(f"the worker exited with {process.returncode}:\n{log_path.read_text()}")
        time.sleep(0.2)
    pytest.fail(f"document {document_id} still pending after {WAIT_SECONDS} s; worker log:\n{log_path.read_text()}")


@pytest.mark.django_db(transaction=True)  # the upload really commits, so the worker can read it
def test_an_uploaded_document_is_processed_by_a_real_worker(celery_worker, browser):
    process, log_path = celery_worker
    content = b"%PDF-1.7\nprocessed by a real worker\n"

    response = browser.upload(content, name="worker.pdf")
    assert response.status_code == 201

    document = wait_until_processed(response.json()["id"], process, log_path)
    assert document.status == Document.Status.PROCESSED, document.error
    assert document.sha256 == hashlib.sha256(content).hexdigest()
    assert document.size == len(content)
    assert document.content_type == "application/pdf"
    assert "documents.tasks.process_document" in log_path.read_text()
