"""gunicorn's logger class: access lines as structured JSON fields through the root handler.

Successful liveness probes get no access line: the load balancer sends one every few seconds to
every task for as long as it runs, and each line would cost log ingestion and storage forever
while saying nothing. They are counted instead, and each worker writes one summary line
(``health probes answered``) per ``PROBE_SUMMARY_SECONDS`` in which probes arrived, plus one for
the remainder when it exits. A probe that fails still gets its access line.
"""

from __future__ import annotations

import threading
import time

from gunicorn.glogging import Logger

from config.contract import HEALTH_PATH
from config.logs import OWN_REQUEST_ID_ENVIRON, client_address, valid_request_id

PROBE_SUMMARY_SECONDS = 300.0
_PROBE_PATHS = frozenset({HEALTH_PATH, HEALTH_PATH + "/"})


class ProbeCounter:
    """Successful probes since the last summary; ``add`` says when the next summary is due."""

    def __init__(self, interval: float = PROBE_SUMMARY_SECONDS):
        self.interval = interval
        self._lock = threading.Lock()
        self._reset(time.monotonic())

    def _reset(self, now: float) -> None:
        self.count = 0
        self.since = now

    def add(self) -> int:
        """Count one probe; the count to report (then reset) once the interval has passed, else 0."""
        with self._lock:
            self.count += 1
            now = time.monotonic()
            if now - self.since < self.interval:
                return 0
            count = self.count
            self._reset(now)
            return count

    def take(self) -> int:
        """The count not reported yet (reset): for the last summary of an exiting worker."""
        with self._lock:
            count = self.count
            self._reset(time.monotonic())
            return count


def client_request_id(environ) -> str | None:
    candidate = environ.get("HTTP_X_REQUEST_ID", "")
    return candidate if valid_request_id(candidate) else None


def _header(resp, name: str) -> str | None:
    for key, value in getattr(resp, "headers", None) or []:
        if key.lower() == name:
            return value
    return None


def _access_log_enabled(logger: Logger) -> bool:
    # gunicorn 24+ exposes access_log_enabled; 23.x (still allowed by pyproject) has only the
    # condition it is computed from, so fall back to that instead of failing every request.
    enabled = getattr(logger, "access_log_enabled", None)
    if enabled is not None:
        return enabled
    cfg = logger.cfg
    return bool(cfg.accesslog or cfg.logconfig or cfg.logconfig_dict or getattr(cfg, "logconfig_json", None)
                or (cfg.syslog and not cfg.disable_redirect_access_to_syslog))


class JsonAccessLogger(Logger):
    def __init__(self, cfg):
        super().__init__(cfg)
        self.probes = ProbeCounter()

    def access(self, resp, req, environ, request_time) -> None:
        if not _access_log_enabled(self):
            return
        status = int(str(resp.status).split(None, 1)[0]) if resp.status else None
        path = environ.get("PATH_INFO", "")
        if status == 200 and path in _PROBE_PATHS:
            due = self.probes.add()
            if due:
                self.probe_summary(due)
            return
        query = environ.get("QUERY_STRING")
        self.access_log.info(
            '%s %s%s %s', environ.get("REQUEST_METHOD"), path, f"?{query}" if query else "", status,
            extra={
                # Ours (config.middleware puts it in the environ), else the one the response carries.
                "request_id": environ.get(OWN_REQUEST_ID_ENVIRON) or _header(resp, "x-request-id"),
                "client_request_id": client_request_id(environ),
                "method": environ.get("REQUEST_METHOD"),
                "path": path,
                "status": status,
                "duration_ms": round(request_time.total_seconds() * 1000, 2),
                "bytes": getattr(resp, "sent", None),
                "remote_addr": client_address(environ),
                "user_agent": environ.get("HTTP_USER_AGENT"),
                "protocol": environ.get("SERVER_PROTOCOL"),
            },
        )

    def probe_summary(self, count: int) -> None:
        if count:
            self.access_log.info("health probes answered: %d with 200 (no access line each)", count,
                                 extra={"path": HEALTH_PATH, "status": 200, "probes": count})
