"""bin/sync finds uv where its installers put it, installs it only once, and says how to put it on PATH.

Each case sources bin/uv-env (what bin/sync and bin/lock do first) in bash with a fresh HOME and
a PATH of the system folders only, then runs ``uv --version`` through what it set up.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from .helpers import REPO_ROOT

SYSTEM_PATH = "/usr/bin:/bin"
REAL_UV = shutil.which("uv", path=os.pathsep.join([os.environ.get("PATH", ""), str(Path.home() / ".local/bin")]))
pytestmark = pytest.mark.skipif(REAL_UV is None, reason="uv is not installed on this machine")
HINT = 'export PATH="$HOME/.local/bin:$PATH"'


def source_uv_env(home: Path, path: str) -> subprocess.CompletedProcess:
    env = {"HOME": str(home), "PATH": path, "LANG": "C.UTF-8"}
    return subprocess.run(["bash", "-c", "set -euo pipefail; source bin/uv-env; uv --version"], cwd=REPO_ROOT,
                          env=env, capture_output=True, text=True, timeout=60)


def python3_answering_user_install(home: Path, answer: str) -> str:
    """A PATH whose python3 runs the shell ``answer`` for `python3 -m pip install --quiet --user uv`
    and hands every other call to the real interpreter."""
    shims = home / "shims"
    shims.mkdir()
    (shims / "python3").write_text(
        '#!/bin/bash\n'
        'if [ "$*" = "-m pip install --quiet --user uv" ]; then\n'
        f'  {answer}\n'
        'else exec /usr/bin/python3 "$@"; fi\n')
    (shims / "python3").chmod(0o755)
    return f"{shims}:{SYSTEM_PATH}"


def test_uv_on_the_path_is_used_silently(tmp_path):
    result = source_uv_env(tmp_path, f"{Path(REAL_UV).parent}:{SYSTEM_PATH}")
    assert result.returncode == 0 and result.stdout.startswith("uv ")
    assert result.stderr == ""


def test_uv_in_local_bin_is_found_without_reinstalling_and_the_path_line_is_given(tmp_path):
    (tmp_path / ".local/bin").mkdir(parents=True)
    (tmp_path / ".local/bin/uv").symlink_to(REAL_UV)
    for _ in range(2):  # every run: found, never "not installed"
        result = source_uv_env(tmp_path, SYSTEM_PATH)
        assert result.returncode == 0 and result.stdout.startswith("uv "), result.stderr
        assert "not installed" not in result.stderr
        assert result.stderr.splitlines() == [
            f"sync: uv is in $HOME/.local/bin, not on your PATH; to run it yourself add to ~/.bashrc or ~/.zshrc: {HINT}"
        ]


def test_missing_uv_is_installed_once_into_local_bin(tmp_path):
    # Stands in for `python3 -m pip install --user uv` (which would download uv): it puts uv where
    # pip --user puts scripts on Linux; every other python3 call goes to the real interpreter.
    path = python3_answering_user_install(
        tmp_path, f'mkdir -p "$HOME/.local/bin" && ln -s {REAL_UV} "$HOME/.local/bin/uv" && echo installed >> "$HOME/pip.log"')

    first = source_uv_env(tmp_path, path)
    second = source_uv_env(tmp_path, path)

    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    assert "uv is not installed" in first.stderr and HINT in first.stderr
    assert "not installed" not in second.stderr and HINT in second.stderr
    assert (tmp_path / "pip.log").read_text() == "installed\n"  # once


def test_a_system_python_that_refuses_user_installs_gets_uv_through_a_throwaway_venv(tmp_path):
    # Debian's python3 refuses `pip install --user` (PEP 668, "externally-managed-environment"); the
    # shim says so for that one call, and everything else (venv, the venv's pip) runs for real.
    path = python3_answering_user_install(tmp_path, 'echo "error: externally-managed-environment" >&2; exit 1')

    result = source_uv_env(tmp_path, path)

    assert result.returncode == 0 and result.stdout.startswith("uv "), result.stderr
    assert (tmp_path / ".local/bin/uv").is_file() and not (tmp_path / ".local/bin/uv").is_symlink()
    assert HINT in result.stderr
