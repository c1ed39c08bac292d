"""Every model change ships with its migration: the release process can only apply what exists."""

from __future__ import annotations

import subprocess
import sys


def test_no_model_change_lacks_a_migration(app_dir, subprocess_env):
    result = subprocess.run(
        [sys.executable, "manage.py", "makemigrations", "--check", "--dry-run", "--noinput"],
        cwd=app_dir, env=subprocess_env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, (
        "models changed without a migration; run `python manage.py makemigrations` in app/:\n"
        + result.stdout + result.stderr
    )
