"""Content types come from the bytes; the name only refines containers and text formats."""

from __future__ import annotations

import pytest
from documents.sniff import content_type


@pytest.mark.parametrize(("head", "name", "expected"), [
    (b"%PDF-1.7\n...", "report.pdf", "application/pdf"),
    (b"%PDF-1.7\n...", "no-extension", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n\x00\x00", "photo.jpg", "image/png"),  # the bytes win over the name
    (b"\xff\xd8\xff\xe0\x00\x10JFIF", "x", "image/jpeg"),
    (b"GIF89a\x01\x00", "x", "image/gif"),
    (b"RIFF\x24\x00\x00\x00WEBPVP8 ", "x", "image/webp"),
    (b"RIFF\x24\x00\x00\x00WAVEfmt ", "x", "audio/wav"),
    (b"PK\x03\x04\x14\x00", "archive.zip", "application/zip"),
    (b"PK\x03\x04\x14\x00", "letter.docx",
     "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    (b"PK\x03\x04\x14\x00", "innocent.txt", "application/zip"),  # a text name cannot relabel a zip
    (b"\x1f\x8b\x08\x00", "logs.gz", "application/gzip"),
    (b"hello, world\n", "notes", "text/plain"),
    (b'{"a": 1}\n', "data.json", "application/json"),
    (b"a,b\n1,2\n", "table.csv", "text/csv"),
    (b"plain words", "fake.png", "text/plain"),  # text named .png is still text
    ("héllo wörld ö".encode()[:-1], "cut.txt", "text/plain"),  # a UTF-8 character cut at the sniff limit
    (b"\x00\x01\x02\x03binary", "blob.txt", "application/octet-stream"),
    (b"\xff\xfe\xfa", "x", "application/octet-stream"),
])
def test_content_type(head, name, expected):
    assert content_type(head, name) == expected
