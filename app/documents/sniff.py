"""Content type from the bytes themselves (standard library only).

A client's declared type and a file's extension are both claims; the first bytes are
evidence. Signatures decide first; the name only refines a container format (a .docx is
a zip) or names a text format; anything else is text or octet-stream by inspection.
"""

from __future__ import annotations

import mimetypes

OCTET_STREAM = "application/octet-stream"
SNIFF_BYTES = 512

# (offset, signature, content type), most specific first.
SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (0, b"%PDF-", "application/pdf"),
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"GIF87a", "image/gif"),
    (0, b"GIF89a", "image/gif"),
    (8, b"WEBP", "image/webp"),
    (0, b"BM", "image/bmp"),
    (0, b"II*\x00", "image/tiff"),
    (0, b"MM\x00*", "image/tiff"),
    (0, b"PK\x03\x04", "application/zip"),
    (0, b"PK\x05\x06", "application/zip"),
    (0, b"\x1f\x8b", "application/gzip"),
    (0, b"BZh", "application/x-bzip2"),
    (0, b"\xfd7zXZ\x00", "application/x-xz"),
    (0, b"7z\xbc\xaf\x27\x1c", "application/x-7z-compressed"),
    (0, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "application/x-ole-storage"),
    (4, b"ftyp", "video/mp4"),
    (0, b"OggS", "application/ogg"),
    (0, b"ID3", "audio/mpeg"),
    (0, b"fLaC", "audio/flac"),
    (0, b"\x7fELF", "application/x-executable"),
    (0, b"SQLite format 3\x00", "application/vnd.sqlite3"),
)

# Containers whose members decide the real type: trust the name's more specific guess.
CONTAINERS = {
    "application/zip": ("+zip", "application/vnd.openxmlformats", "application/vnd.oasis", "application/java-archive"),
    "application/x-ole-storage": ("application/msword", "application/vnd.ms-"),
    "video/mp4": ("video/", "audio/", "image/heic", "image/heif", "image/avif"),
}

TEXT_CONTROL_BYTES = set(range(0, 32)) - {9, 10, 12, 13, 27}


def signature_type(head: bytes) -> str | None:
    """The content type whose magic bytes start ``head``, or None."""
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return "audio/wav"
    for offset, signature, content_type in SIGNATURES:
        if head[offset : offset + len(signature)] == signature:
            return content_type
    return None


def looks_like_text(head: bytes) -> bool:
    """True when ``head`` decodes as UTF-8 (allowing a cut final character) without control bytes."""
    if any(byte in TEXT_CONTROL_BYTES for byte in head):
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start >= len(head) - 3 and exc.reason == "unexpected end of data"
    return True


def name_type(name: str) -> str | None:
    """What the file name's extension suggests (stdlib ``mimetypes``)."""
    return mimetypes.guess_type(name, strict=False)[0]


def content_type(head: bytes, name: str = "") -> str:
    """The content type of a file that starts with ``head`` and is called ``name``."""
    sniffed = signature_type(head)
    guessed = name_type(name)
    if sniffed is not None:
        refinements = CONTAINERS.get(sniffed, ())
        if guessed and any(guessed.startswith(p) or guessed.endswith(p) for p in refinements):
            return guessed
        return sniffed
    if looks_like_text(head):
        if guessed and (guessed.startswith("text/") or guessed in ("application/json", "application/xml")):
            return guessed
        return "text/plain"
    return OCTET_STREAM
