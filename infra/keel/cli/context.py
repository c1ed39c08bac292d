"""What a command needs from the outside world, in one injectable object.

Tests replace the AWS clients, the clock, sleep and subprocess calls here, so every command
runs the same code path in-process as it does from the console script.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO


def aws_client(service: str, region: str) -> Any:
    """A boto3 client from the standard credential chain; boto3 itself honours AWS_ENDPOINT_URL."""
    import boto3
    from botocore.config import Config

    config = Config(retries={"mode": "standard", "max_attempts": 5}, user_agent_extra="keel-cli")
    return boto3.session.Session(region_name=region).client(service, config=config)


@dataclass
class Context:
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)
    client_factory: Callable[[str, str], Any] = aws_client
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    wall_clock: Callable[[], float] = time.time
    which: Callable[[str], str | None] = shutil.which
    run_process: Callable[..., subprocess.CompletedProcess] = subprocess.run
    debug: bool = False

    def client(self, service: str, region: str) -> Any:
        return self.client_factory(service, region)

    def out(self, line: str) -> None:
        """A result line (container logs, tables): stdout, flushed so pipes see it at once."""
        print(line, file=self.stdout, flush=True)

    def err(self, line: str) -> None:
        """A progress or diagnostic line: stderr, so stdout stays clean for the output itself."""
        print(line, file=self.stderr, flush=True)
