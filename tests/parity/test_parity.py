"""Parity proof: the image the stack deploys works with exactly the environment the stack gives it.

The staging stack is evaluated under Pulumi mocks; each process's container definition (command,
environment, secrets, user, stopTimeout, and its storage: task volumes at its mount points on a
read-only root, prepared as Fargate prepares them, see fargate.py) is run as a container of the
image built from this repository's Dockerfile, against Postgres, Redis and S3 (moto) on loopback. Only hosts, ports,
credentials and TLS parameters change (tests/parity/local.py says exactly what and why).
Then the test uses the app as the load balancer and a user would, and stops every process the
way ECS does.
"""

from __future__ import annotations

import hashlib
import os
import threading
import urllib.request
from dataclasses import replace

import pytest
from config import contract

from tests.parity import processes
from tests.parity.browser import Browser, probe, send
from tests.parity.oci import REPO_ROOT
from tests.parity.stack import ProcessDefinition, check_injected, process_definitions, task_volumes

SERVICES = ("web", "worker", "beat")
ADMIN = {"DJANGO_SUPERUSER_USERNAME": "parity-admin", "DJANGO_SUPERUSER_EMAIL": "admin@example.com",
         "DJANGO_SUPERUSER_PASSWORD": "correct-horse-battery-staple-7"}
APP_UID = 10001
# Over FILE_UPLOAD_MAX_MEMORY_SIZE (2.5 MB), so Django spills the upload to a temporary file.
LARGE_UPLOAD = 5 * 1024 * 1024
# What `keel run -- python manage.py shell -c ...` runs: a temporary file, as any admin script may make.
WRITE_TEMP_FILE = ("import tempfile; f = tempfile.NamedTemporaryFile(prefix='keel-run-', delete=False); "
                   "f.write(b'written by keel run'); f.close(); print(f.name)")


def one_off(staging, definitions: dict[str, ProcessDefinition], command: list[str],
            environment: dict[str, str] | None = None) -> ProcessDefinition:
    """The container `keel run --stack staging [--env K=V] -- COMMAND` starts: the RunTask request
    keel builds from the stack outputs, its container overrides applied to the definition it names."""
    from keel.cli.oneoff import task_spec
    from keel.cli.stack import StackOutputs
    from keel.evaluate import unwrap_secret

    outputs = StackOutputs(name=staging.stack, values=unwrap_secret(staging.outputs))
    request = task_spec(outputs, command, started_by="keel-run", environment=environment).run_task_request()
    process = {record.arn: name for name, record in staging.task_definitions().items()}[request["taskDefinition"]]
    override = request["overrides"]["containerOverrides"][0]
    assert override["name"] == process, f"keel run overrides container {override['name']} of task {process}"
    definition = definitions[process]
    added = {item["name"]: item["value"] for item in override.get("environment", [])}
    return replace(definition, command=override["command"], environment={**definition.environment, **added})


def documents_row_backdated(database: str, document_id: int, days: int) -> None:
    """Age a document past retention, as time would (the row's created_at is what retention reads)."""
    import psycopg

    with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{database}", autocommit=True) as connection:
        connection.execute("UPDATE documents_document SET created_at = now() - make_interval(days => %s) "
                           "WHERE id = %s", [days, document_id])


def object_keys(s3, bucket: str) -> set[str]:
    return {item["Key"] for item in s3.list_objects_v2(Bucket=bucket).get("Contents", [])}


def beat_schedule_path(beat: ProcessDefinition) -> str:
    """Where beat keeps its schedule: the ``--schedule`` path of its Procfile command."""
    return beat.command[beat.command.index("--schedule") + 1]


def processed(browser: Browser, document_id: int):
    response = browser.request("GET", f"/api/documents/{document_id}/", headers={"Accept": "application/json"})
    assert response.status == 200, f"GET document {document_id}: {response.status} {response.text[:300]}"
    body = response.json()
    assert body["status"] != "failed", f"the worker failed document {document_id}: {body['error']}"
    return body if body["status"] == "processed" else None


# A cold build on a fresh machine (Debian stand-in, then every layer) takes minutes; warm, seconds.
@pytest.mark.timeout(900, func_only=True)  # the body only: oci.build bounds a cold image build
@pytest.mark.image
def test_image_serves_processes_and_stops_with_the_environment_the_stack_injects(
        image, staging, local_services, database_secret, containers, s3, tmp_path):
    local = local_services
    definitions = process_definitions(staging.container_definitions(), task_volumes(staging))
    check_injected(definitions)  # fails naming process and variable before anything runs
    environments = processes.environments(definitions, staging.secret_values(), local)
    web_env = environments["web"]
    bucket, region = web_env["AWS_STORAGE_BUCKET_NAME"], web_env["AWS_S3_REGION_NAME"]
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})

    # 1. The release phase, to completion, before anything serves.
    release = processes.start(image["tag"], definitions["release"], environments["release"], tmp_path)
    containers.append(release)
    processes.run_to_completion(release, timeout=240)
    # Its migrations connected with the password from the secret DATABASE_SECRET_ARN names (RDS's
    # master secret on AWS): the local Postgres trusts loopback, so the moto server is the witness.
    assert local.database_secret_arn in database_secret.reads, \
        f"release never read {local.database_secret_arn} (GetSecretValue calls: {database_secret.reads})"
    assert release.written_paths(definitions["release"].writable_paths()) == [], \
        "release wrote outside its writable mounts (the root filesystem is read-only on ECS)"

    # 2. web, worker and beat together, plus the one-off that creates the admin (as `keel run` would).
    admin_task = one_off(staging, definitions, ["python", "manage.py", "createsuperuser", "--noinput"], ADMIN)
    admin_env = processes.environments({"release": admin_task}, staging.secret_values(), local)["release"]
    started = processes.start_all(image["tag"], tmp_path, [
        *({"definition": definitions[name], "environment": environments[name]} for name in SERVICES),
        {"definition": admin_task, "environment": admin_env, "name": "createsuperuser"},
    ])
    containers.extend(started)
    web, worker, beat, create_admin = started
    services = [web, worker, beat]
    processes.run_to_completion(create_admin, timeout=180)
    processes.wait_until_serving(web, local.web_port, [worker, beat], timeout=180)
    for container in services:
        assert container.uid() == APP_UID, f"{container.name} runs as uid {container.uid()}, not {APP_UID}"
    # Beat's first tick wrote its schedule into the task volume at its mount point.
    schedule = processes.host_path(beat, definitions["beat"], beat_schedule_path(definitions["beat"]))
    written = processes.wait_for(lambda: sorted(schedule.parent.glob(schedule.name + "*")), 60,
                                 f"beat to write its schedule {beat_schedule_path(definitions['beat'])}", services)
    assert all(path.stat().st_uid == APP_UID for path in written), [(p.name, p.stat().st_uid) for p in written]

    # 3. The load balancer's probes: plain HTTP, the task's IP as Host.
    health = probe(local.web_port, contract.HEALTH_PATH)
    assert health.status == 200, f"/healthz: {health.status} {health.text[:300]}"
    ready = probe(local.web_port, contract.READY_PATH)
    assert ready.status == 200, f"/readyz: {ready.status} {ready.text[:500]}"
    checks = ready.json()["checks"]
    assert {"database", "cache", "broker"} <= set(checks) and all(c["ok"] for c in checks.values()), checks

    # 4. A user on the stack's domain: sign in, upload, and the worker processes the upload.
    host = web_env["DJANGO_ALLOWED_HOSTS"].split(",")[0].lstrip(".")
    # Production mode: plain HTTP that did not come through the HTTPS listener is sent to HTTPS.
    insecure = send(local.web_port, "GET", "/", {"Host": host})
    assert insecure.status == 301 and insecure.headers["Location"] == f"https://{host}/", insecure.status
    browser = Browser(local.web_port, host)
    signed_in = browser.sign_in(ADMIN["DJANGO_SUPERUSER_USERNAME"], ADMIN["DJANGO_SUPERUSER_PASSWORD"])
    assert signed_in.status == 302 and "sessionid" in browser.cookies, \
        f"sign-in: {signed_in.status} {signed_in.text[:500]}"
    assert browser.request("GET", "/").status == 200
    from django.conf import settings

    assert LARGE_UPLOAD > settings.FILE_UPLOAD_MAX_MEMORY_SIZE  # spilled to FILE_UPLOAD_TEMP_DIR
    content = os.urandom(LARGE_UPLOAD // 2).hex().encode()
    created = browser.upload("parity.txt", content)
    assert created.status == 201, f"upload: {created.status} {created.text[:500]}"
    kept = created.json()["id"]
    done = processes.wait_for(lambda: processed(browser, kept), 60, "the worker to process the upload", services)
    assert done["sha256"] == hashlib.sha256(content).hexdigest() and done["size"] == len(content)
    assert any(key.endswith("/parity.txt") for key in object_keys(s3, bucket)), "the upload is not in S3"
    # The download link is presigned with the task role's credentials (here the stand-in keys).
    with urllib.request.urlopen(done["download_url"], timeout=15) as download:
        assert download.read() == content

    # 5. Beat's schedule fires and the worker purges an expired document (row and object).
    expired_content = b"old news\n"
    expiring = browser.upload("expired.txt", expired_content)
    assert expiring.status == 201, f"upload: {expiring.status} {expiring.text[:500]}"
    expired = expiring.json()["id"]
    processes.wait_for(lambda: processed(browser, expired), 60, "the worker to process the second upload", services)
    retention = int(web_env.get("DOCUMENT_RETENTION_DAYS", contract.BY_NAME["DOCUMENT_RETENTION_DAYS"].default))
    documents_row_backdated(local.database, expired, retention + 1)
    processes.wait_for(
        lambda: browser.request("GET", f"/api/documents/{expired}/").status == 404,
        60, "beat's purge to delete the expired document", services)
    assert not any(key.endswith("/expired.txt") for key in object_keys(s3, bucket)), "the purge left its object"
    assert processed(browser, kept), "the purge deleted a document younger than the retention"
    assert "purge-expired-documents" in beat.output(), "beat never logged sending its schedule"

    # 6. A one-off admin command, started the way `keel run` starts it: the release task definition
    # with a command override. It imports a file shipped in the image, and the worker processes it.
    import_task = one_off(staging, definitions, ["python", "manage.py", "import_documents", "../Procfile"])
    import_env = processes.environments({"release": import_task}, staging.secret_values(), local)["release"]
    importer = processes.start(image["tag"], import_task, import_env, tmp_path, name="import_documents")
    containers.append(importer)
    processes.run_to_completion(importer, timeout=180)

    def imported():
        listing = browser.request("GET", "/api/documents/").json()["results"]
        return next((d for d in listing if d["name"] == "Procfile" and d["status"] == "processed"), None)

    document = processes.wait_for(imported, 60, "the imported Procfile to be processed", services)
    assert document["sha256"] == hashlib.sha256((REPO_ROOT / "Procfile").read_bytes()).hexdigest()

    # 7. `keel run -- python manage.py shell -c ...`: a one-off writes a temporary file where Python's
    # tempfile puts it, as the task user, on the task's storage.
    shell_task = one_off(staging, definitions, ["python", "manage.py", "shell", "-c", WRITE_TEMP_FILE])
    shell_env = processes.environments({"release": shell_task}, staging.secret_values(), local)["release"]
    shell = processes.start(image["tag"], shell_task, shell_env, tmp_path, name="shell")
    containers.append(shell)
    processes.run_to_completion(shell, timeout=180)
    temp_file = next(line for line in shell.stdout().splitlines() if line.startswith("/"))
    on_host = processes.host_path(shell, shell_task, temp_file)
    assert on_host.read_bytes() == b"written by keel run" and on_host.stat().st_uid == APP_UID, temp_file

    # Every line each process wrote to stdout so far is one JSON log object (what CloudWatch gets).
    # Checked before SIGTERM: Celery's shutdown handler writes two plain lines straight to the
    # stdout file descriptor (celery.apps.worker.safe_say), bypassing logging.
    for container in [release, *services]:
        assert processes.non_json_lines(container) == [], f"{container.name} logged lines that are not JSON"

    # 8. SIGTERM, as ECS sends it; each process must exit by itself within its stopTimeout.
    results: dict[str, tuple[float, int | None]] = {}

    def stop(container):
        results[container.name] = container.stop(limit=definitions[container.name].stop_timeout)

    threads = [threading.Thread(target=stop, args=(container,)) for container in services]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for container in services:
        elapsed, status = results[container.name]
        limit = definitions[container.name].stop_timeout
        assert status is not None, (f"{container.name} ignored SIGTERM for its whole stopTimeout ({limit} s) and "
                                    f"was killed\n{container.output()[-2000:]}")
        assert status == 0, f"{container.name} exited {status} after SIGTERM\n{container.output()[-2000:]}"
        assert container.written_paths(definitions[container.name].writable_paths()) == [], \
            f"{container.name} wrote outside its writable mounts (the root filesystem is read-only on ECS)"
    for container in (create_admin, importer, shell):  # one-offs run the release definition
        assert container.written_paths(definitions["release"].writable_paths()) == [], container.name
    print(f"\nparity: image {image['tag']} {image['size']}, built in {image['build_seconds']:.0f} s; "
          + ", ".join(f"{name} stopped in {results[name][0]:.1f} s (stopTimeout {definitions[name].stop_timeout})"
                      for name in SERVICES))
