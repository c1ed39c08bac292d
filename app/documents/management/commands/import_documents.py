"""Import every file under a folder as documents: the example one-off admin command.

    python manage.py import_documents PATH [--owner USERNAME] [--follow-outside-links]

Locally or on AWS with ``keel run --stack staging -- python manage.py import_documents ...``.
Each file is stored like an upload (object and row together) and queued for processing.

Safe to run again (after a database restart, a killed task): a file whose content (SHA-256) the
owner already has is skipped, and the summary says how many were. Every entry that cannot be
read (a folder or file without permission) is named, and makes the command exit non-zero, as do
files that could not be stored. A symbolic link leading outside PATH is not followed unless
``--follow-outside-links`` is given (a shared folder must not import, say, /etc/passwd).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.files import File
from django.core.management.base import BaseCommand, CommandError

from documents.models import Document
from documents.storing import DocumentNotStored, UploadRejected, store_document

HASH_CHUNK = 1024 * 1024


@dataclass
class Walk:
    """What walking PATH found besides files: entries it could not read, links it refused."""

    unreadable: list[tuple[Path, str]] = field(default_factory=list)
    refused_links: list[tuple[Path, Path]] = field(default_factory=list)


def inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def files_under(root: Path, walk: Walk, follow_outside: bool = False) -> Iterator[Path]:
    """Every regular file under ``root`` (or ``root`` itself), in a stable order. Unreadable
    folders and links out of ``root`` (unless ``follow_outside``) are recorded in ``walk``."""
    if not root.is_dir():
        yield root
        return
    real_root = root.resolve()
    seen_folders = {real_root}

    def on_error(error: OSError) -> None:
        walk.unreadable.append((Path(error.filename), error.strerror or str(error)))

    pending = [root]
    while pending:
        top = pending.pop(0)
        for folder, dirs, files in os.walk(top, onerror=on_error):
            dirs.sort()
            for name in list(dirs):
                path = Path(folder, name)
                if path.is_symlink():
                    dirs.remove(name)  # never descended into by os.walk; decided here
                    target = path.resolve()
                    if target in seen_folders or inside(target, real_root):
                        continue  # its files are imported where they really are
                    if not follow_outside:
                        walk.refused_links.append((path, target))
                        continue
                    seen_folders.add(target)
                    pending.append(path)
            for name in sorted(files):
                path = Path(folder, name)
                if path.is_symlink():
                    target = path.resolve()
                    if not inside(target, real_root) and not follow_outside:
                        walk.refused_links.append((path, target))
                        continue
                    if not target.is_file():
                        walk.unreadable.append((path, f"link to {target}, which is not a readable file"))
                        continue
                yield path


def content_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(HASH_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


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
        parser.add_argument("--follow-outside-links", action="store_true",
                            help="also import what symbolic links pointing outside PATH lead to")

    def handle(self, *args, path: str, owner: str | None, follow_outside_links: bool, **options) -> None:
        root = Path(path)
        if not root.exists():
            raise CommandError(f"PATH {path!r} does not exist: pass a folder or file that exists in this container.")
        user = resolve_owner(owner)
        walk = Walk()
        imported = already = skipped = failed = total_bytes = 0
        for file_path in files_under(root, walk, follow_outside_links):
            shown = file_path.relative_to(root) if file_path != root else file_path.name
            try:
                digest = content_sha256(file_path)
                if Document.objects.filter(owner=user, sha256=digest).exists():
                    already += 1
                    self.stdout.write(f"already {shown}: {user.get_username()} has a document with this content")
                    continue
                with file_path.open("rb") as handle:
                    document = store_document(user, File(handle), file_path.name, sha256=digest)
            except UploadRejected as exc:
                skipped += 1
                self.stdout.write(f"skipped {shown}: {exc.message}")
            except PermissionError as exc:
                walk.unreadable.append((file_path, exc.strerror or str(exc)))
            except (DocumentNotStored, OSError) as exc:
                failed += 1
                self.stderr.write(f"failed  {shown}: {exc}")
            else:
                imported += 1
                total_bytes += file_path.stat().st_size
                self.stdout.write(f"queued  {shown} as document {document.pk}")
        for entry, reason in walk.unreadable:
            self.stderr.write(f"unreadable {entry}: {reason}")
        for link, target in walk.refused_links:
            self.stderr.write(f"not followed {link}: a link to {target}, outside PATH (--follow-outside-links "
                              "imports it)")
        summary = (
            f"Imported {imported} file(s), {total_bytes} bytes, for {user.get_username()}; "
            f"{already} already imported, skipped {skipped}, failed {failed}, unreadable {len(walk.unreadable)}, "
            f"links not followed {len(walk.refused_links)}."
        )
        if failed or walk.unreadable:
            raise CommandError(summary + " Fix the entries above and run the command again: "
                                         "what was imported is skipped.")
        self.stdout.write(self.style.SUCCESS(summary))
