"""Connection URLs for the backing services, with their TLS parameters (factor IV)."""

from __future__ import annotations

from urllib.parse import quote, urlsplit, urlunsplit

from keel import contract


def postgres_url(username: str, password: str | None, host: str, port: int, database: str) -> str:
    """postgres://user[:pass]@host:port/db?sslmode=require (the server forces TLS too).

    Without a password when the app reads it elsewhere (DATABASE_SECRET_ARN, RDS-managed rotation).
    """
    credentials = quote(username, safe="") + (f":{quote(password, safe='')}" if password is not None else "")
    return f"postgres://{credentials}@{host}:{port}/{database}?sslmode=require"


def redis_url(token: str, host: str, port: int, db: int = 0) -> str:
    """rediss://:token@host:port/db?ssl_cert_reqs=required: TLS with certificate checks."""
    return f"rediss://:{quote(token, safe='')}@{host}:{port}/{db}?ssl_cert_reqs=required"


def broker_url(cache_url: str) -> str:
    """CELERY_BROKER_URL for a REDIS_URL: the same server, the database the app's own default uses."""
    return with_database(cache_url, contract.broker_database(int(urlsplit(cache_url).path.strip("/") or 0)))


def with_database(url: str, db: int) -> str:
    """The same Redis URL pointing at database ``db`` (query and credentials kept)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{db}", parts.query, parts.fragment))


def url_port(url: str, default: int) -> int:
    return urlsplit(url).port or default
