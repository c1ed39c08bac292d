"""A virtualenv with the image's packages only: requirements/app.txt, as the Dockerfile installs it.

The bench's own .venv also carries the dev lock (pytest, moto, ruff...), which a process that
imports them by accident, or Python's import machinery scanning more paths, makes larger than in
the image. Memory figures of the worker come from this venv instead. Rebuilt when the lock changes.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

from bench import harness

LOCK = harness.REPO / "requirements" / "app.txt"


def ensure(name: str = "venv-app") -> Path:
    """The venv's bin/ (built once per lock digest)."""
    venv = harness.WORK / name
    python = venv / "bin" / "python"
    stamp = venv / "lock.sha256"
    digest = hashlib.sha256(LOCK.read_bytes()).hexdigest()
    if python.exists() and stamp.exists() and stamp.read_text() == digest:
        return venv / "bin"
    uv = shutil.which("uv") or str(Path.home() / ".local" / "bin" / "uv")
    if not Path(uv).exists():
        raise RuntimeError("uv is not installed: needed to build the image-like venv (bin/sync installs it)")
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
    subprocess.run([uv, "pip", "sync", "--quiet", "--require-hashes", "--python", str(python), str(LOCK)], check=True)
    stamp.write_text(digest)
    return venv / "bin"
