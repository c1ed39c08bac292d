"""Logs as an event stream on stdout (factor XI): one JSON object per line, or readable lines.

Every record carries ``request_id`` (the id of the HTTP request being served, set by
``config.middleware.RequestIdMiddleware``) and, inside a Celery task, ``task_id`` and
``task_name``. Known secret values are replaced by ``***`` before anything is written.
"""

from __future__ import annotations

import contextvars
import ipaddress
import json
import logging
import os
import re
import sys
import time
from collections.abc import Iterable

REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
# The caller's own X-Request-ID, when well formed: logged beside ours, never instead of it.
CLIENT_REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("client_request_id", default=None)
REDACTED = "***"
# Attributes every LogRecord has; anything else was passed with ``extra=`` and is emitted as a field.
_STANDARD_ATTRS = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}
_secrets: tuple[str, ...] = ()


def set_redacted_values(values: Iterable[str]) -> None:
    """Strings (credentials) that must never reach a log line."""
    global _secrets
    _secrets = tuple(values)


def add_redacted_value(value: str) -> None:
    """One more credential learnt after start-up (a password read from Secrets Manager)."""
    global _secrets
    if value and value not in _secrets:
        _secrets = tuple(sorted({*_secrets, value}, key=len, reverse=True))


def redact(text: str) -> str:
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


# Where the access log (config.gunicorn_logger) finds our id: request.META is gunicorn's environ.
OWN_REQUEST_ID_ENVIRON = "keel.request_id"
# A caller's X-Request-ID is kept only if it cannot inject anything into logs or headers.
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,128}$")


def valid_request_id(candidate: str) -> bool:
    return bool(_VALID_REQUEST_ID.match(candidate))


def client_address(environ: dict) -> str | None:
    """The client's address as the load balancer saw it: the right-most X-Forwarded-For entry,
    which the ALB appends to whatever the client sent (ELB docs, "X-Forwarded-For": "the last IP
    address is the client that connected to the load balancer"); everything left of it is the
    client's own claim. The ALB is our only proxy; without the header (a health check, a local run)
    the socket's peer. Works on a WSGI environ and on request.META alike."""
    forwarded = environ.get("HTTP_X_FORWARDED_FOR", "")
    last = forwarded.rsplit(",", 1)[-1].strip()
    if last:
        try:
            return str(ipaddress.ip_address(last))
        except ValueError:
            pass  # not an address the ALB would write: fall back to the peer
    return environ.get("REMOTE_ADDR")


def _current_task() -> tuple[str | None, str | None]:
    # Read Celery's state only where Celery is loaded: importing it here would put Celery into
    # every web process at its first log line, and no task can run where it is not loaded.
    state = sys.modules.get("celery._state")
    task = state.get_current_task() if state is not None else None
    if task is None or task.request is None or task.request.id is None:
        return None, None
    return task.request.id, task.name


class ContextFilter(logging.Filter):
    """Adds request_id, task_id and task_name to every record (None outside a request or task)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = REQUEST_ID.get()
        if not hasattr(record, "client_request_id"):
            record.client_request_id = CLIENT_REQUEST_ID.get()
        if not hasattr(record, "task_id"):
            record.task_id, record.task_name = _current_task()
        return True


def _timestamp(record: logging.LogRecord) -> str:
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
    return f"{seconds}.{int(record.msecs):03d}Z"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: timestamp, level, logger, message, request_id, then extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "timestamp": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
            "request_id": getattr(record, "request_id", REQUEST_ID.get()),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and key not in entry and value is not None:
                entry[key] = redact(value) if isinstance(value, str) else value
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        if record.stack_info:
            entry["stack"] = redact(self.formatStack(record.stack_info))
        return json.dumps(entry, default=str)


def signal_safe_json_say(msg: str, f=sys.__stderr__) -> None:
    """Stand-in for Celery's ``safe_say`` (used inside its signal handlers): the same one direct
    ``os.write``, no logging locks, but the text as one JSON line like every other line."""
    now = time.time()
    record = logging.LogRecord("celery.apps.worker", logging.WARNING, "", 0, msg.strip(), None, None)
    record.created, record.msecs = now, (now % 1) * 1000
    entry = {"timestamp": _timestamp(record), "level": "WARNING", "logger": record.name,
             "message": record.msg, "request_id": None}
    try:
        os.write(f.fileno(), (json.dumps(entry) + "\n").encode())
    except (OSError, ValueError, AttributeError):
        pass  # best effort, as Celery's own: never abort a shutdown over a message


class WithoutTraceback(logging.Filter):
    """Keeps a record to its message: for django.security.DisallowedHost, where a wrong Host (any
    scanner's) would otherwise log a 1 KB traceback that says nothing the message does not."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.exc_info = None
        record.exc_text = None
        return True


class ConsoleFormatter(logging.Formatter):
    """Readable lines for humans (LOG_FORMAT=console)."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s [%(request_id)s] %(message)s", "%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        if not hasattr(record, "request_id"):
            record.request_id = REQUEST_ID.get()
        record.request_id = record.request_id or "-"
        return redact(super().format(record))


def logging_config(level: str, fmt: str) -> dict:
    """The dictConfig for Django, gunicorn and Celery: everything goes to the root handler on stdout."""
    formatter = "config.logs.JsonFormatter" if fmt == "json" else "config.logs.ConsoleFormatter"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": "config.logs.ContextFilter"},
                    "without_traceback": {"()": "config.logs.WithoutTraceback"}},
        "formatters": {"default": {"()": formatter}},
        "handlers": {
            "stdout": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stdout",
                "formatter": "default",
                "filters": ["context"],
            },
        },
        "root": {"handlers": ["stdout"], "level": level},
        "loggers": {
            "py.warnings": {"handlers": [], "level": "WARNING", "propagate": True},
            # Django's own handlers (mail_admins, the runserver console) are replaced by the root one.
            "django": {"handlers": [], "level": level, "propagate": True},
            "django.server": {"handlers": [], "level": level, "propagate": True},
            "django.security.DisallowedHost": {"handlers": [], "level": level, "propagate": True,
                                               "filters": ["without_traceback"]},
            "gunicorn.error": {"handlers": [], "level": level, "propagate": True},
            "gunicorn.access": {"handlers": [], "level": level, "propagate": True},
            "celery": {"handlers": [], "level": level, "propagate": True},
        },
    }
