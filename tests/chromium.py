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
    # Helper processes may still write the profile as Chromium exits: leftovers are not an error.
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as profile:
        result = subprocess.run([chromium(), *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}",
                                 *args, url], capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


class Tab:
    """One headless Chromium tab driven over the DevTools protocol on a pipe (--remote-debugging-pipe:
    JSON messages separated by NUL, commands on the browser's fd 3, replies and events on its fd 4), so
    a test can run JavaScript in the page and emulate a phone without any driver package.
    """

    def __init__(self, width: int = 1280, height: int = 800, mobile: bool = False, scale: float = 1) -> None:
        import os

        # Chromium's helper processes may still be writing the profile as it exits: leftovers are not an error.
        self._profile = tempfile.TemporaryDirectory(ignore_cleanup_errors=True)
        commands_read, self._commands = os.pipe()
        self._replies, replies_write = os.pipe()

        def wire_pipes() -> None:  # in the child, before exec: the pipes become fds 3 and 4
            import fcntl

            # Out of the way first (either end may already be 3 or 4), then into place, inheritable.
            high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (commands_read, replies_write)]
            for target, fd in zip((3, 4), high, strict=True):
                os.dup2(fd, target)
                os.set_inheritable(target, True)

        self._process = subprocess.Popen(
            [chromium(), *FLAGS, "--remote-debugging-pipe", f"--user-data-dir={self._profile.name}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=wire_pipes, close_fds=False)
        os.close(commands_read)
        os.close(replies_write)
        self._buffer = b""
        self._next_id = 0
        self._events: list[dict] = []
        target = self._call("Target.createTarget", url="about:blank")["targetId"]
        self._session = self._call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.call("Page.enable")
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=scale,
                  mobile=mobile)

    def _message(self) -> dict:
        import json
        import os

        while b"\0" not in self._buffer:
            chunk = os.read(self._replies, 65536)
            if not chunk:
                raise AssertionError("Chromium closed its DevTools pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def _call(self, method: str, session: str | None = None, **params) -> dict:
        import json
        import os

        self._next_id += 1
        request = {"id": self._next_id, "method": method, "params": params}
        if session:
            request["sessionId"] = session
        os.write(self._commands, json.dumps(request).encode() + b"\0")
        while True:
            message = self._message()
            if message.get("id") == self._next_id:
                assert "error" not in message, f"{method}: {message['error']}"
                return message.get("result", {})
            self._events.append(message)

    def call(self, method: str, **params) -> dict:
        """A DevTools command in this tab (https://chromedevtools.github.io/devtools-protocol/)."""
        return self._call(method, self._session, **params)

    def goto(self, url: str, timeout: float = 30) -> None:
        """Navigate and wait for the load event."""
        import time

        self._events.clear()
        self.call("Page.navigate", url=url)
        deadline = time.monotonic() + timeout
        while not any(event.get("method") == "Page.loadEventFired" for event in self._events):
            assert time.monotonic() < deadline, f"{url} did not load within {timeout} s"
            self._events.append(self._message())

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        assert "exceptionDetails" not in result, result["exceptionDetails"]
        return result["result"].get("value")

    def set_cookie(self, name: str, value: str, url: str) -> None:
        self.call("Network.setCookie", name=name, value=value, url=url)

    def screenshot(self, path: str) -> None:
        import base64
        from pathlib import Path

        Path(path).write_bytes(base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"]))

    def close(self) -> None:
        import os

        try:
            self._process.terminate()
            self._process.wait(timeout=30)
        finally:
            os.close(self._commands)
            os.close(self._replies)
            self._profile.cleanup()

    def __enter__(self) -> Tab:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
