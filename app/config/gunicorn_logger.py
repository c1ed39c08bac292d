"""gunicorn's logger class: access lines as structured JSON fields through the root handler."""

from __future__ import annotations

from gunicorn.glogging import Logger


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
    def access(self, resp, req, environ, request_time) -> None:
        if not _access_log_enabled(self):
            return
        status = int(str(resp.status).split(None, 1)[0]) if resp.status else None
        path = environ.get("PATH_INFO", "")
        query = environ.get("QUERY_STRING")
        self.access_log.info(
            '%s %s%s %s', environ.get("REQUEST_METHOD"), path, f"?{query}" if query else "", status,
            extra={
                "request_id": _header(resp, "x-request-id"),
                "method": environ.get("REQUEST_METHOD"),
                "path": path,
                "status": status,
                "duration_ms": round(request_time.total_seconds() * 1000, 2),
                "bytes": getattr(resp, "sent", None),
                "remote_addr": environ.get("HTTP_X_FORWARDED_FOR", environ.get("REMOTE_ADDR")),
                "user_agent": environ.get("HTTP_USER_AGENT"),
                "protocol": environ.get("SERVER_PROTOCOL"),
            },
        )
