"""manage.py import_documents: the example one-off admin command."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from documents.models import Document

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
    assert "Imported 3 file(s), 32 bytes, for alice; skipped 1, failed 0." in output
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
    with pytest.raises(CommandError, match=r"Imported 0 file\(s\), 0 bytes, for alice; skipped 1, failed 3\."):
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
