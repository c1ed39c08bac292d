"""Import every file under a folder as documents: the example one-off admin command.

    python manage.py import_documents PATH [--owner USERNAME]

Locally or on AWS with ``keel run --stack staging -- python manage.py import_documents ...``.
Each file is stored like an upload (object and row together) and queued for processing.
Exits non-zero if PATH or the owner is wrong, or if any file could not be stored.
"""

from __future__ import annotations

from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.files import File
from django.core.management.base import BaseCommand, CommandError

from documents.storing import DocumentNotStored, UploadRejected, store_document


def files_under(root: Path) -> list[Path]:
    """Every regular file under ``root`` (or ``root`` itself), in a stable order."""
    if root.is_file():
        return [root]
    return sorted(path for path in root.rglob("*") if path.is_file())


def resolve_owner(username: str | None):
    users = get_user_model().objects
    if username is not None:
        owner = users.filter(username=username).first()
        if owner is None:
            raise CommandError(
                f"--owner {username!r}: no such user. Create one with `python manage.py createsuperuser` "
                "or pass an existing username."
            )
        return owner
    superusers = list(users.filter(is_superuser=True, is_active=True)[:2])
    if len(superusers) != 1:
        found = "no superuser exists" if not superusers else "there is more than one superuser"
        raise CommandError(f"--owner is required because {found}: pass --owner USERNAME.")
    return superusers[0]


class Command(BaseCommand):
    help = "Import every file under PATH (recursively) as documents of --owner and queue their processing."

    def add_arguments(self, parser) -> None:
        parser.add_argument("path", help="a folder (searched recursively) or a single file")
        parser.add_argument("--owner", help="username that will own the documents (default: the only superuser)")

    def handle(self, *args, path: str, owner: str | None, **options) -> None:
        root = Path(path)
        if not root.exists():
            raise CommandError(f"PATH {path!r} does not exist: pass a folder or file that exists in this container.")
        user = resolve_owner(owner)
        imported = skipped = failed = total_bytes = 0
        for file_path in files_under(root):
            shown = file_path.relative_to(root) if file_path != root else file_path.name
            try:
                with file_path.open("rb") as handle:
                    document = store_document(user, File(handle), file_path.name)
            except UploadRejected as exc:
                skipped += 1
                self.stdout.write(f"skipped {shown}: {exc.message}")
            except (DocumentNotStored, OSError) as exc:
                failed += 1
                self.stderr.write(f"failed  {shown}: {exc}")
            else:
                imported += 1
                total_bytes += file_path.stat().st_size
                self.stdout.write(f"queued  {shown} as document {document.pk}")
        summary = (
            f"Imported {imported} file(s), {total_bytes} bytes, for {user.get_username()}; "
            f"skipped {skipped}, failed {failed}."
        )
        if failed:
            raise CommandError(summary + " Fix the failures above and run the command again.")
        self.stdout.write(self.style.SUCCESS(summary))
