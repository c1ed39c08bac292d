"""`keel rollback`, every branch, against real Postgres and real Django project states.

The deployed image and the older one are the app with two histories of the documents app; each
one-off task runs as that image's manage.py process (tests/cli/local_ecs.py) on a database that
the deployed image migrated, and its log lines travel through CloudWatch Logs (moto) to keel.
ECR is botocore's Stubber; the Pulumi CLI, which cannot run here, is recorded.
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
from datetime import UTC, datetime
from urllib.parse import urlsplit

import boto3
import psycopg
import pytest
from botocore.stub import ANY, Stubber
from keel import outputs as out
from keel.cli import main
from keel.cli.context import Context
from keel.cli.errors import KeelError
from keel.cli.rollback import target_image
from keel.ecr_copy import ImageRef
from keel.evaluate import evaluate_stack

from tests.app.helpers import fresh_database, image_manage

from .conftest import REGION, FakeTime, stack_outputs
from .local_ecs import LocalEcs, release_definition

REPOSITORY = "keel-staging"
REPO_URL = f"123456789012.dkr.ecr.{REGION}.amazonaws.com/{REPOSITORY}"
NEW, OLD, OLDER = ("sha256:" + c * 64 for c in "abc")


@pytest.fixture(scope="module")
def release_task_definition():
    return release_definition(evaluate_stack("staging").task_definitions()["release"])


@pytest.fixture(scope="module")
def deployed_databases():
    """Per image, a database as its release left it (migrated once; each test gets a copy)."""
    made: dict[str, contextlib.ExitStack] = {}
    names: dict[str, str] = {}

    def name_of(history: str) -> str:
        if history not in names:
            stack = made[history] = contextlib.ExitStack()
            url = stack.enter_context(fresh_database())
            result = image_manage(history, "migrate", database_url=url)
            assert result.returncode == 0, result.stderr
            names[history] = urlsplit(url).path.strip("/")
        return names[history]

    yield name_of
    for stack in made.values():
        stack.close()


def run_rollback(*args, deployed_history, older_history, logs_client, release_task_definition, database_url,
                 pulumi_result=lambda command: 0):
    ecs = LocalEcs(REGION, logs_client, {NEW: deployed_history, OLD: older_history}, database_url)
    release_arn = ecs.add_definition({**release_task_definition, "containerDefinitions": [
        {**release_task_definition["containerDefinitions"][0], "image": f"{REPO_URL}@{NEW}"}]})
    outputs = stack_outputs(**{out.IMAGE_REF: f"{REPO_URL}@{NEW}", out.TASK_DEFINITION_ARNS: {
        p: release_arn for p in out.PROCESSES}, out.LOG_GROUP_NAMES: {p: "/keel/staging/release" for p in out.PROCESSES}})
    ecr = boto3.client("ecr", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    commands: list[list[str]] = []

    def pulumi(command, **kwargs):
        commands.append(list(command))
        return subprocess.CompletedProcess(command, pulumi_result(command))

    stdout, stderr, clock = io.StringIO(), io.StringIO(), FakeTime()
    context = Context(stdout=stdout, stderr=stderr, client_factory=lambda service, region: {
        "ecs": ecs, "logs": logs_client, "ecr": ecr}[service], sleep=clock.sleep, clock=clock.clock,
        which=lambda name: f"/usr/bin/{name}", run_process=pulumi)
    with Stubber(ecr) as stub:
        pushed = {NEW: 3, OLD: 2, OLDER: 1}
        stub.add_response("describe_images", {"imageDetails": [
            {"imageDigest": d, "imagePushedAt": datetime(2026, 12, day, tzinfo=UTC)} for d, day in pushed.items()]},
            {"registryId": "123456789012", "repositoryName": REPOSITORY, "filter": {"tagStatus": "TAGGED"}})
        stub.add_client_error("batch_get_image", "ImageNotFoundException")  # no label to read: none set
        code = main(["rollback", "--outputs", _write(outputs), *args], context)
    return code, commands, stdout.getvalue(), stderr.getvalue(), ecs


def _write(values: dict) -> str:
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(values, f)
        return f.name


def applied(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return [r[0] for r in conn.execute("SELECT name FROM django_migrations WHERE app = 'documents' ORDER BY id")]


@pytest.fixture
def rollback(logs_client, release_task_definition, deployed_databases):
    """keel rollback on a copy of the database the deployed image migrated; returns its results and URL."""
    with contextlib.ExitStack() as cleanup:
        def go(*args, deployed_history, older_history, **options):
            url = cleanup.enter_context(fresh_database(template=deployed_databases(deployed_history)))
            return (*run_rollback(*args, deployed_history=deployed_history, older_history=older_history,
                                  logs_client=logs_client, release_task_definition=release_task_definition,
                                  database_url=url, **options), url)
        yield go


def pinned_to(commands) -> str | None:
    return next((c[4] for c in commands if c[:4] == ["pulumi", "config", "set", "keel:image"]), None)


def test_nothing_ahead_pins_the_previous_image_and_deploys(rollback):
    code, commands, _, err, ecs, _ = rollback("--yes", deployed_history="nullable", older_history="nullable")
    assert code == 0, err
    assert pinned_to(commands) == f"{REPO_URL}@{OLD}"
    assert commands[-1] == ["pulumi", "up", "--stack", "staging", "--yes"]
    assert "no migration the older image does not know" in err
    # The older image ran from a copy of the release task definition with only its image changed.
    copy = next(d for d in ecs.definitions.values() if d["family"].endswith("-rollback"))
    assert copy["containerDefinitions"][0]["image"] == f"{REPO_URL}@{OLD}" and copy["status"] == "INACTIVE"
    assert [c["image"] for _, c in ecs.calls] == ["nullable", "nullable"]


def test_the_database_ahead_is_refused_with_each_migration_explained(rollback):
    code, commands, _, err, _, database_url = rollback(deployed_history="nullable", older_history="initial_only")
    assert code == 1 and commands == []
    assert "documents.0002_widget_note: backwards compatible; reversible" in err
    assert "--migrate-back unapplies them first" in err
    assert applied(database_url) == ["0001_initial", "0002_widget_note"]


def test_migrate_back_unapplies_then_deploys(rollback):
    code, commands, _, err, ecs, database_url = rollback("--migrate-back", "--yes", deployed_history="nullable",
                                                         older_history="initial_only")
    assert code == 0, err
    assert applied(database_url) == ["0001_initial"]
    assert "note" not in columns(database_url)  # the column the migration added is gone
    assert pinned_to(commands) == f"{REPO_URL}@{OLD}"
    # The unapplying ran in the deployed image (the one that knows the migration).
    assert ecs.calls[-1] == ("RunTask", {"image": "nullable", "command": ANY})
    assert "--migrate-back" in ecs.calls[-1][1]["command"]


def test_migrate_back_asks_first_and_a_pipe_cannot_say_yes(rollback):
    code, commands, _, err, ecs, database_url = rollback("--migrate-back", deployed_history="nullable",
                                                         older_history="initial_only")
    assert code == 1 and commands == []
    assert "nothing changed (pass --yes" in err
    assert applied(database_url) == ["0001_initial", "0002_widget_note"]


def test_a_failed_up_after_migrating_back_unpins_and_says_how_to_reapply(rollback):
    code, commands, _, err, _, database_url = rollback(
        "--migrate-back", "--yes", deployed_history="nullable", older_history="initial_only",
        pulumi_result=lambda command: 255 if command[1] == "up" else 0)
    assert code == 255
    up = commands.index(["pulumi", "up", "--stack", "staging", "--yes"])
    # Pinned back to what the stack file had: no keel:image (the committed staging file builds from source).
    assert ["pulumi", "config", "rm", "keel:image", "--stack", "staging"] in commands[up:]
    assert "migrated back (documents.0002_widget_note)" in err and "python manage.py migrate" in err
    assert applied(database_url) == ["0001_initial"]


def test_an_irreversible_migration_cannot_be_migrated_back(rollback):
    code, commands, _, err, _, database_url = rollback("--migrate-back", "--yes", deployed_history="data_no_reverse",
                                                       older_history="initial_only")
    assert code == 1 and commands == []
    assert "documents.0002_fill: breaks the older code (RUNPYTHON_REVERSIBLE); cannot be unapplied" in err
    assert "cannot migrate back: documents.0002_fill cannot be unapplied" in err
    assert applied(database_url) == ["0001_initial", "0002_fill"]


def test_force_deploys_with_the_database_ahead(rollback):
    code, commands, _, err, _, database_url = rollback("--force", deployed_history="drop_column", older_history="initial_only")
    assert code == 0, err
    assert "breaks the older code (DROP_COLUMN)" in err and "--force" in err
    assert pinned_to(commands) == f"{REPO_URL}@{OLD}"
    assert applied(database_url) == ["0001_initial", "0002_remove_widget_title"]


@pytest.mark.parametrize(("choice", "expected"), [
    ((None, 1), OLD), ((None, 2), OLDER), ((OLDER, 1), OLDER), ((f"{REPO_URL}@{OLD}", 1), OLD),
])
def test_the_target_is_the_image_steps_back_by_push_time_or_the_digest_given(choice, expected):
    ecr = boto3.client("ecr", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(ecr) as stub:
        stub.add_response("describe_images", {"imageDetails": [  # ECR lists them in no promised order
            {"imageDigest": d, "imagePushedAt": datetime(2026, 12, day, tzinfo=UTC)}
            for d, day in ((OLDER, 1), (NEW, 3), (OLD, 2))]}, {"registryId": "123456789012", "repositoryName": REPOSITORY, "filter": {"tagStatus": "TAGGED"}})
        found = target_image(ecr, ImageRef.parse(f"{REPO_URL}@{NEW}"), *choice)
    assert found.digest == expected and found.repository == REPOSITORY


def test_too_many_steps_says_how_many_older_images_there_are():
    ecr = boto3.client("ecr", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(ecr) as stub:
        stub.add_response("describe_images", {"imageDetails": [
            {"imageDigest": NEW, "imagePushedAt": datetime(2026, 12, 3, tzinfo=UTC)},
            {"imageDigest": OLD, "imagePushedAt": datetime(2026, 12, 2, tzinfo=UTC)}]},
            {"registryId": "123456789012", "repositoryName": REPOSITORY, "filter": {"tagStatus": "TAGGED"}})
        with pytest.raises(KeelError, match="holds 1 older image"):
            target_image(ecr, ImageRef.parse(f"{REPO_URL}@{NEW}"), None, 3)


def test_bad_arguments_are_said_before_anything_is_looked_up():
    err = io.StringIO()
    context = Context(stdout=io.StringIO(), stderr=err, which=lambda name: None)
    assert main(["rollback", "--stack", "staging", "--steps", "0"], context) == 2
    assert "--steps 0 is invalid" in err.getvalue() and "Pulumi CLI" not in err.getvalue()


def columns(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        return {r[0] for r in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'documents_widget'")}
