"""A real browser for page tests: Debian's Chromium, headless (bin/test installs it when missing).

Flags as this machine's notes prescribe: no sandbox (root), no GPU, and no background networking,
so the browser talks only to the page under test.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile

import pytest

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync")


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if not found:
        pytest.skip("no Chromium: install Debian's chromium package (bin/test does as root)")
    return found


def run(url: str, *args: str, width: int = 1280, height: int = 800, timeout: float = 60) -> str:
    """Chromium's stdout after loading ``url`` with ``args`` (e.g. --dump-dom, --screenshot=PATH)."""
    with tempfile.TemporaryDirectory() as profile:
        result = subprocess.run([chromium(), *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}",
                                 *args, url], capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout
