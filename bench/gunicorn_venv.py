"""A second virtualenv that differs from .venv only in the gunicorn release.

It holds just gunicorn (installed with ``uv pip`` from the package index) and sees everything
else through a .pth line that adds .venv's site-packages after its own, so Django, Celery and
the app are byte-for-byte the ones the main comparison uses.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

from bench import harness

SPEC = "gunicorn>=23,<24"  # the newest 23.x: the release line before the one in the lock


def site_packages(python: Path) -> Path:
    out = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                         capture_output=True, text=True, check=True)
    return Path(out.stdout.strip())


def ensure(spec: str = SPEC, name: str = "venv-gunicorn23") -> tuple[Path, str]:
    """The venv's bin/ and the gunicorn version installed there (built once, reused)."""
    venv = harness.WORK / name
    python = venv / "bin" / "python"
    if not python.exists():
        uv = shutil.which("uv")
        if uv is None:
            raise RuntimeError("uv is not installed: needed to build the gunicorn 23 comparison venv")
        subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
        subprocess.run([uv, "pip", "install", "--quiet", "--python", str(python), "--no-deps", spec], check=True)
        main_site = sysconfig.get_paths()["purelib"]
        # site.addsitedir (not a bare path) so .venv's own .pth files (the editable keel) apply too.
        (site_packages(python) / "zz_keel_main_venv.pth").write_text(f"import site; site.addsitedir({main_site!r})\n")
    return venv / "bin", gunicorn_version(python)


def gunicorn_version(python: Path) -> str:
    out = subprocess.run([str(python), "-c", "import gunicorn; print(gunicorn.__version__)"],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()
