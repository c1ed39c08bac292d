"""manage.py import_documents: the example one-off admin command."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from io import StringIO
from urllib.parse import urlsplit

import pytest
from django.core.management import CommandError, call_command
from documents.models import Document

from tests.app.helpers import APP_DIR

pytestmark = pytest.mark.django_db


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "sub" / "deeper").mkdir(parents=True)
    (tmp_path / "a.txt").write_bytes(b"alpha\n")
    (tmp_path / "sub" / "b.pdf").write_bytes(b"%PDF-1.4 beta")
    (tmp_path / "sub" / "deeper" / "c.png").write_bytes(b"\x89PNG\r\n\x1a\ngamma")
    (tmp_path / "sub" / "empty.txt").write_bytes(b"")
    return tmp_path


def run(*args: str) -> str:
    out = StringIO()
    call_command("import_documents", *args, stdout=out, stderr=out)
    return out.getvalue()


def test_imports_every_file_recursively_and_queues_processing(
    folder, user, stored_keys, stored_bytes, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as queued:
        output = run(str(folder), "--owner", "alice")

    names = sorted(Document.objects.filter(owner=user).values_list("original_name", flat=True))
    assert names == ["a.txt", "b.pdf", "c.png"]
    assert len(queued) == 3
    assert "skipped sub/empty.txt: field 'file' is empty" in output
    assert "Imported 3 file(s), 32 bytes, for alice; 0 already imported, skipped 1, failed 0," in output
    keys = stored_keys(user)
    assert len(keys) == 3
    assert sorted(stored_bytes(key) for key in keys) == sorted([b"alpha\n", b"%PDF-1.4 beta", b"\x89PNG\r\n\x1a\ngamma"])


def test_files_over_the_limit_are_skipped_with_the_reason(folder, user, settings):
    settings.DOCUMENT_MAX_BYTES = 10
    output = run(str(folder), "--owner", "alice")
    assert "skipped sub/b.pdf: field 'file' is 13 bytes, over the 10-byte limit (DOCUMENT_MAX_BYTES)" in output
    assert list(Document.objects.values_list("original_name", flat=True)) == ["a.txt"]


def test_a_single_file_path_imports_that_file(folder, user):
    run(str(folder / "a.txt"), "--owner", "alice")
    assert Document.objects.get().original_name == "a.txt"


def test_without_owner_the_only_superuser_owns_the_import(folder, django_user_model):
    admin = django_user_model.objects.create_superuser("root", "root@example.com")
    assert "for root;" in run(str(folder / "a.txt"))
    assert Document.objects.get().owner == admin


def test_without_owner_and_no_superuser_it_asks_for_one(folder, user):
    with pytest.raises(CommandError, match=r"--owner is required because no superuser exists"):
        run(str(folder))


def test_unknown_owner_is_a_clear_error_and_imports_nothing(folder, user):
    with pytest.raises(CommandError, match=r"--owner 'nobody': no such user"):
        run(str(folder), "--owner", "nobody")
    assert not Document.objects.exists()


def test_missing_path_is_a_clear_error(tmp_path, user):
    with pytest.raises(CommandError, match=r"PATH '.*nowhere' does not exist"):
        run(str(tmp_path / "nowhere"), "--owner", "alice")


def test_storage_failures_are_reported_and_make_the_command_fail(folder, user, missing_bucket):
    with pytest.raises(CommandError, match=r"Imported 0 file\(s\), 0 bytes, for alice; 0 already imported, skipped 1, failed 3,"):
        run(str(folder), "--owner", "alice")
    assert not Document.objects.exists()


def test_manage_py_exits_non_zero_with_one_line_and_no_traceback(tmp_path, capsys):
    # What `keel run -- python manage.py import_documents ...` shows an operator (manage.py's own
    # entry point, run in this process to spare a Django start-up).
    from django.core.management import execute_from_command_line

    with pytest.raises(SystemExit) as exited:
        execute_from_command_line(["manage.py", "import_documents", str(tmp_path / "nowhere"), "--owner", "alice"])

    stderr = capsys.readouterr().err
    assert exited.value.code == 1
    assert stderr.startswith("CommandError: PATH") and "does not exist" in stderr
    assert "Traceback" not in stderr


# --- Safe to run again ----------------------------------------------------------------------------
def test_a_rerun_after_an_interrupted_import_creates_no_duplicates(folder, user):
    """The first run stopped part-way (a database restart): only the first files got in."""
    (folder / "late").mkdir()
    run(str(folder / "sub"), "--owner", "alice")  # what the interrupted run managed: b.pdf, c.png
    for number in range(5):
        (folder / "late" / f"{number}.txt").write_bytes(f"file {number}\n".encode())

    output = run(str(folder), "--owner", "alice")

    names = sorted(Document.objects.filter(owner=user).values_list("original_name", flat=True))
    assert names == ["0.txt", "1.txt", "2.txt", "3.txt", "4.txt", "a.txt", "b.pdf", "c.png"]
    assert "Imported 6 file(s)" in output and "2 already imported" in output
    assert "already sub/b.pdf" in output


def test_what_the_owner_already_has_is_recognised_by_content_not_name(folder, user, other_user):
    run(str(folder / "a.txt"), "--owner", "alice")
    (folder / "renamed.txt").write_bytes(b"alpha\n")  # a.txt's content under another name

    output = run(str(folder / "renamed.txt"), "--owner", "alice")
    assert "1 already imported" in output
    assert "Imported 1 file(s)" in run(str(folder / "renamed.txt"), "--owner", "bob")  # bob has none yet
    assert Document.objects.filter(owner=user).count() == 1


def test_a_link_out_of_the_folder_is_not_followed_unless_asked(folder, user, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside")
    (outside / "secret.txt").write_bytes(b"not for import\n")
    (outside / "dir").mkdir()
    (outside / "dir" / "more.txt").write_bytes(b"more\n")
    (folder / "secret-link.txt").symlink_to(outside / "secret.txt")
    (folder / "dir-link").symlink_to(outside / "dir")

    output = run(str(folder), "--owner", "alice")
    assert f"not followed {folder / 'secret-link.txt'}: a link to {outside / 'secret.txt'}, outside PATH" in output
    assert f"not followed {folder / 'dir-link'}" in output
    assert "links not followed 2." in output
    assert not Document.objects.filter(original_name__in=["secret-link.txt", "more.txt"]).exists()

    run(str(folder), "--owner", "alice", "--follow-outside-links")
    assert set(Document.objects.filter(original_name__in=["secret-link.txt", "more.txt"])
               .values_list("original_name", flat=True)) == {"secret-link.txt", "more.txt"}


def test_a_link_inside_the_folder_is_imported_once(folder, user):
    (folder / "again.txt").symlink_to(folder / "a.txt")
    output = run(str(folder), "--owner", "alice")
    assert Document.objects.filter(owner=user).count() == 3 and "1 already imported" in output


@pytest.mark.skipif(not shutil.which("setpriv"), reason="root reads everything; setpriv drops that")
@pytest.mark.django_db(transaction=True)  # the command runs in its own process
def test_unreadable_entries_are_each_named_and_the_command_fails(folder, user, subprocess_env, s3_server):
    """As a real one-off process that cannot override file permissions (root here can, so
    setpriv drops CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH first)."""
    from django.db import connection

    (folder / "locked").mkdir()
    (folder / "locked" / "inside.txt").write_bytes(b"x")
    (folder / "sealed.txt").write_bytes(b"sealed\n")
    os.chmod(folder / "locked", 0)
    os.chmod(folder / "sealed.txt", 0)
    env = {**subprocess_env, "DATABASE_URL": database_url_of(connection)}
    try:
        result = subprocess.run(
            ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", sys.executable, "manage.py",
             "import_documents", str(folder), "--owner", "alice"],
            cwd=APP_DIR, env=env, capture_output=True, text=True, timeout=120,
        )
    finally:
        os.chmod(folder / "locked", 0o755)
        os.chmod(folder / "sealed.txt", 0o644)

    assert result.returncode != 0
    assert f"unreadable {folder / 'locked'}: Permission denied" in result.stderr
    assert f"unreadable {folder / 'sealed.txt'}: Permission denied" in result.stderr
    assert "unreadable 2," in result.stderr
    assert "Traceback" not in result.stderr
    assert Document.objects.filter(owner=user).count() == 3  # the readable ones still got in


def database_url_of(connection) -> str:
    url = urlsplit(os.environ["DATABASE_URL"])
    return url._replace(path="/" + connection.settings_dict["NAME"]).geturl()
