"""The database password held in a Secrets Manager secret (RDS's managed master secret).

RDS rotates that secret (JSON with ``username`` and ``password``) on its own schedule, so the
password is read when a connection opens, cached process-wide for ``MAX_AGE`` seconds, and
re-read at once when the server refuses it. boto3 is imported on the first read, never at
start-up: importing it costs the web process a noticeable share of its cold start.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import dataclass

from config.logs import add_redacted_value

VARIABLE = "DATABASE_SECRET_ARN"
MAX_AGE = 300.0  # seconds a password is trusted without asking Secrets Manager again
RETRY_AFTER = 30.0  # after a failed re-read, keep the last password this long before asking again

logger = logging.getLogger("config.postgres")


class SecretUnavailable(Exception):
    """The secret cannot give a password; the message names the variable and the secret."""

    def __init__(self, arn: str, what: str):
        super().__init__(f"{VARIABLE}: secret {arn} {what}")


@dataclass(frozen=True)
class _Cached:
    password: str
    read_at: float


_lock = threading.Lock()  # one read at a time: threads that need a password wait for it
_cache: dict[str, _Cached] = {}
_clients: dict[str, object] = {}  # region -> boto3 client


def _after_fork_in_child() -> None:
    """A forked worker (gunicorn preload, Celery prefork) keeps the cached passwords but gets a lock
    no other thread can be holding and its own clients: a boto3 client's sockets must not be shared."""
    global _lock
    _lock = threading.Lock()
    _clients.clear()


os.register_at_fork(after_in_child=_after_fork_in_child)


def region_of(arn: str) -> str:
    """The region named in a secret ARN (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME)."""
    parts = arn.split(":")
    if len(parts) < 7 or parts[0] != "arn" or parts[2] != "secretsmanager" or not parts[3]:
        raise SecretUnavailable(arn, "is not a Secrets Manager ARN (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME)")
    return parts[3]


def _client(region: str):
    if region not in _clients:
        import boto3
        from botocore.config import Config

        # Short timeouts: a connection (and /readyz, bounded to 2 s) must not hang on Secrets Manager.
        config = Config(connect_timeout=2, read_timeout=3, retries={"mode": "standard", "max_attempts": 2})
        # AWS_ENDPOINT_URL(_SECRETS_MANAGER) and the task role's credentials are found by boto3 itself.
        _clients[region] = boto3.session.Session().client("secretsmanager", region_name=region, config=config)
    return _clients[region]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _read(arn: str) -> str:
    """The secret's current password, straight from Secrets Manager."""
    client = _client(region_of(arn))
    try:
        response = client.get_secret_value(SecretId=arn)
    except Exception as exc:  # noqa: BLE001 - API, credential and network errors all mean "cannot read"
        raise SecretUnavailable(arn, f"cannot be read ({_first_line(exc)})") from None
    try:
        password = json.loads(response.get("SecretString") or "")["password"]
    except (ValueError, KeyError, TypeError):
        raise SecretUnavailable(arn, 'is not JSON with a "password" field (expected RDS\'s master secret)') from None
    if not isinstance(password, str) or not password:
        raise SecretUnavailable(arn, 'has an empty or non-text "password" field')
    add_redacted_value(password)
    return password


def current_password(arn: str) -> str:
    """The cached password, re-read once it is older than ``MAX_AGE``.

    If that re-read fails but a password is cached, the cached one is kept (it is probably still
    valid: rotation is weekly) and the read is retried after ``RETRY_AFTER`` seconds.
    """
    with _lock:
        cached, now, max_age = _cache.get(arn), time.monotonic(), MAX_AGE
        if cached and now - cached.read_at < max_age:
            return cached.password
        try:
            password = _read(arn)
        except SecretUnavailable as exc:
            if cached is None:
                raise
            logger.warning("%s; still using the password read %d s ago", exc, now - cached.read_at)
            _cache[arn] = _Cached(cached.password, now - max_age + RETRY_AFTER)
            return cached.password
        _cache[arn] = _Cached(password, now)
        return password


def refreshed_password(arn: str, refused: str) -> str:
    """A password other than ``refused``: re-read now, unless another thread already did."""
    with _lock:
        cached = _cache.get(arn)
        if cached and cached.password != refused:
            return cached.password
        password = _read(arn)
        _cache[arn] = _Cached(password, time.monotonic())
        return password


def prepare(arn: str) -> None:
    """Import boto3 and create the client now, e.g. before a time-bounded check: a cold import of
    boto3 takes a second or more on a busy host. A bad ARN is left for the read to report."""
    try:
        region = region_of(arn)
    except SecretUnavailable:
        return
    with _lock:
        _client(region)


def forget() -> None:
    """Drop every cached password and client (tests; a process that switches AWS endpoints)."""
    with _lock:
        _cache.clear()
        _clients.clear()
