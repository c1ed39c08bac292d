"""Run wrk (Debian's package) and read its report into numbers."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import asdict, dataclass

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


@dataclass
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx_3xx: int
    socket_errors: int  # connect + read + write + timeout

    @property
    def failed(self) -> int:
        return self.non_2xx_3xx + self.socket_errors

    def as_dict(self) -> dict:
        return {**asdict(self), "failed": self.failed}


def available() -> bool:
    return shutil.which("wrk") is not None


def to_ms(value: str) -> float:
    """'812.00us' / '1.20ms' / '2.01s' / '1.00m' as milliseconds."""
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value.strip())
    if not match:
        raise ValueError(f"not a wrk duration: {value!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse(report: str) -> WrkResult:
    """The figures of one ``wrk --latency`` report."""
    def find(pattern: str, default: str | None = None) -> str:
        match = re.search(pattern, report)
        if match:
            return match.group(1)
        if default is None:
            raise ValueError(f"wrk report has no {pattern!r}:\n{report}")
        return default

    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", report)
    return WrkResult(
        rps=float(find(r"Requests/sec:\s+([\d.]+)")),
        p50_ms=to_ms(find(r"\n\s+50%\s+(\S+)")),
        p99_ms=to_ms(find(r"\n\s+99%\s+(\S+)")),
        requests=int(find(r"(\d+) requests in")),
        non_2xx_3xx=int(find(r"Non-2xx or 3xx responses: (\d+)", "0")),
        socket_errors=sum(int(n) for n in errors.groups()) if errors else 0,
    )


def run(url: str, seconds: float, connections: int = 16, threads: int = 2,
        headers: dict[str, str] | None = None) -> tuple[WrkResult, str]:
    """wrk for ``seconds`` at ``connections``; the parsed result and the raw report."""
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency", "--timeout", "5s"]
    for name, value in (headers or {}).items():
        argv += ["-H", f"{name}: {value}"]
    out = subprocess.run([*argv, url], capture_output=True, text=True, timeout=seconds + 30)
    if out.returncode:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stderr.strip()}")
    return parse(out.stdout), out.stdout


def start(url: str, seconds: float, connections: int = 16, threads: int = 2) -> subprocess.Popen:
    """wrk in the background (for drills that act while load runs); read it with ``finish``."""
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency", "--timeout", "5s", url]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def finish(popen: subprocess.Popen, timeout: float) -> tuple[WrkResult, str]:
    out, err = popen.communicate(timeout=timeout)
    if popen.returncode:
        raise RuntimeError(f"wrk failed ({popen.returncode}): {err.strip()}")
    return parse(out), out
