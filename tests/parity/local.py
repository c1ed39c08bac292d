"""Point a process's environment, as the stack wrote it, at the local backing services.

Only hosts, ports and credentials change, plus TLS parameters where the local server has no TLS
(``rediss://`` -> ``redis://``, ``sslmode`` -> ``disable``). Every variable name, URL form, path
parameter and plain value stays as the stack wrote it, except where a credential is kept
(``CREDENTIAL_LOCATIONS``: the database secret's ARN points at a moto secret); anything added is
listed in ``ADDED``, ``AWS_ENDPOINTS`` and ``TASK_ROLE_STANDIN``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from config import contract

# Variables added to what the stack injects, each one a contract variable whose source is
# "default" on AWS (the app's default is right there), so the stack legitimately leaves it out:
ADDED = {
    # S3 is a moto server on loopback instead of AWS's endpoint.
    "AWS_S3_ENDPOINT_URL",
    # Beat's schedule fires within the test instead of hourly.
    "DOCUMENT_PURGE_INTERVAL",
}
# Stand-ins for the ECS task role (boto3 finds the role's credentials through the container
# credentials endpoint on AWS; moto accepts any key). Not contract variables: the app never reads them.
TASK_ROLE_STANDIN = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
}
# Where boto3 finds Secrets Manager and CloudWatch (beat's queue metrics): the moto server instead of
# AWS's endpoints (standard botocore variables, not contract ones: the app never reads them, boto3 does).
AWS_ENDPOINTS = ("AWS_ENDPOINT_URL_SECRETS_MANAGER", "AWS_ENDPOINT_URL_CLOUDWATCH")
# Values that say where a credential is kept: like a host, each is replaced by its local stand-in.
CREDENTIAL_LOCATIONS = ("DATABASE_SECRET_ARN",)
REDIS_TLS_PARAMETERS = ("ssl_cert_reqs", "ssl_ca_certs", "ssl_certfile", "ssl_keyfile", "ssl_check_hostname")


@dataclass(frozen=True)
class LocalServices:
    postgres_host: str
    postgres_port: int
    postgres_user: str
    database: str  # this test's own database
    redis_host: str
    redis_port: int
    cache_db: int  # REDIS_URL's database index
    broker_db: int  # CELERY_BROKER_URL's database index
    s3_endpoint: str
    secrets_endpoint: str  # Secrets Manager (the same moto server: it serves every service)
    database_secret_arn: str  # a moto secret holding the local Postgres login, as RDS's master secret does
    web_port: int
    purge_interval: int


def _netloc(user: str | None, password: str | None, host: str, port: int) -> str:
    credentials = ""
    if user:
        credentials = user + (f":{password}" if password else "") + "@"
    return f"{credentials}{host}:{port}"


def local_postgres_url(url: str, local: LocalServices) -> str:
    """Host, port, user and database changed; the local server trusts loopback, so no password.
    A ``sslmode`` parameter stays, set to ``disable``: the local server has no TLS."""
    parts = urlsplit(url)
    query = [(key, "disable" if key == "sslmode" else value) for key, value in parse_qsl(parts.query)]
    return urlunsplit(parts._replace(netloc=_netloc(local.postgres_user, None, local.postgres_host,
                                                    local.postgres_port),
                                     path=f"/{local.database}", query=urlencode(query)))


def local_redis_url(url: str, local: LocalServices, db: int) -> str:
    """Host, port and database index changed; no AUTH (the local server has none) and no TLS."""
    parts = urlsplit(url)
    query = [(key, value) for key, value in parse_qsl(parts.query) if key not in REDIS_TLS_PARAMETERS]
    return urlunsplit(parts._replace(scheme="redis", netloc=_netloc(None, None, local.redis_host, local.redis_port),
                                     path=f"/{db}", query=urlencode(query)))


def local_environment(environment: Mapping[str, str], local: LocalServices) -> dict[str, str]:
    """The environment a container of this process gets in the parity test."""
    rewritten = dict(environment)
    for name, value in environment.items():
        var = contract.BY_NAME.get(name)
        if var is None or var.kind != "url" or not value:
            continue
        scheme = urlsplit(value).scheme
        if scheme in ("postgres", "postgresql", "pgsql"):
            rewritten[name] = local_postgres_url(value, local)
        elif scheme in ("redis", "rediss"):
            db = local.broker_db if name == "CELERY_BROKER_URL" else local.cache_db
            rewritten[name] = local_redis_url(value, local, db)
        else:
            raise AssertionError(f"{name}: no local stand-in for a {scheme}:// URL; teach tests/parity/local.py")
    if rewritten.get("DATABASE_SECRET_ARN"):
        # A credential location, like a host: RDS's master secret on AWS -> the moto secret holding
        # the local login. The name stays, and the app reads the password from it the same way.
        rewritten["DATABASE_SECRET_ARN"] = local.database_secret_arn
    if "PORT" in rewritten:
        rewritten["PORT"] = str(local.web_port)  # a free port: the host network is shared
    for name in ADDED:
        assert contract.BY_NAME[name].source == "default", f"{name} is the stack's to set, not the test's"
        assert name not in environment, f"the stack now sets {name}; use its value"
    rewritten["AWS_S3_ENDPOINT_URL"] = local.s3_endpoint
    rewritten["DOCUMENT_PURGE_INTERVAL"] = str(local.purge_interval)
    for name in AWS_ENDPOINTS:
        assert name not in environment, f"the stack now sets {name}; the test must not override it"
    rewritten["AWS_ENDPOINT_URL_SECRETS_MANAGER"] = local.secrets_endpoint
    rewritten["AWS_ENDPOINT_URL_CLOUDWATCH"] = local.secrets_endpoint  # the same moto server
    rewritten.update(TASK_ROLE_STANDIN)
    return rewritten
