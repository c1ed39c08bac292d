"""The environment contract: every variable the app reads, defined once.

This module is the single source of truth for configuration (factor III). It is
declarative and imports nothing but the standard library, because three readers
share it:

* ``config.env`` parses and validates ``os.environ`` against it for the settings;
* the Pulumi program (``infra/keel``) builds each container's ``environment`` and
  ``secrets`` from it, so the stack and the app cannot disagree;
* tests check that ``.env.example`` and docs/configuration.md match it.

Fields of a ``Var``:

name        the environment variable.
kind        how the value is parsed: str, bool, int, url, list (comma separated),
            choice (one of ``choices``).
default     used when the variable is unset; ``None`` means no default.
production  required when ``DJANGO_DEBUG`` is off (production mode).
secret      carries a credential: the stack passes it through ECS ``secrets``
            (Secrets Manager), never ``environment``, and it is never logged.
description one line, shown in errors, ``.env.example`` and docs/configuration.md.
example     a valid value, shown in error messages and ``.env.example``.
schemes     for ``url``: the accepted URL schemes.
minimum     for ``int``: the smallest accepted value.
maximum     for ``int``: the largest accepted value.
choices     for ``choice``: the accepted values.
source      who provides the value on AWS: ``stack`` (the Pulumi program always
            sets it), ``default`` (the app's default is right on AWS), or ``user``
            (optional, set by the user with ``keel:env`` / ``keel run --env``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

KINDS = ("str", "bool", "int", "url", "list", "choice")
SOURCES = ("stack", "default", "user")


@dataclass(frozen=True)
class Var:
    name: str
    kind: str
    description: str
    example: str
    default: str | None = None
    production: bool = False
    secret: bool = False
    schemes: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    choices: tuple[str, ...] = ()
    source: str = "default"
    group: str = field(default="general")

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"{self.name}: kind {self.kind!r} is not one of {KINDS}")
        if self.source not in SOURCES:
            raise ValueError(f"{self.name}: source {self.source!r} is not one of {SOURCES}")


CONTRACT: tuple[Var, ...] = (
    # --- Django core ---------------------------------------------------------------
    Var(
        "DJANGO_DEBUG", "bool", "Debug mode; off (the default) is production mode, where every required variable must be set.",
        example="false", default="false", group="django",
    ),
    Var(
        "DJANGO_SECRET_KEY", "str", "Signing key for sessions and tokens: at least 50 random characters in production.",
        example="generate with: python -c 'import secrets; print(secrets.token_urlsafe(50))'",
        production=True, secret=True, source="stack", group="django",
    ),
    Var(
        "DJANGO_SECRET_KEY_FALLBACKS", "list", "Previous secret keys still accepted while rotating DJANGO_SECRET_KEY.",
        example="", default="", secret=True, source="user", group="django",
    ),
    Var(
        "DJANGO_ALLOWED_HOSTS", "list", "Host names the site answers to (comma separated); health probes are exempt.",
        example="app.example.com", production=True, source="stack", group="django",
    ),
    Var(
        "DJANGO_CSRF_TRUSTED_ORIGINS", "list", "Origins trusted for unsafe requests (comma separated, with scheme).",
        example="https://app.example.com", default="", source="stack", group="django",
    ),
    Var(
        "DJANGO_HTTPS", "bool",
        "The site is served over HTTPS (the load balancer terminates TLS): turns on the HTTPS redirect, "
        "Secure cookies and HSTS. Set false only for a stack without a domain (dev), never in production.",
        example="true", default="true", source="stack", group="django",
    ),
    # --- Backing services (factor IV) --------------------------------------------
    Var(
        "DATABASE_URL", "url", "PostgreSQL connection URL; add ?sslmode=require (or verify-full) for TLS.",
        example="postgres://postgres@127.0.0.1:5432/keel",
        production=True, secret=True, schemes=("postgres", "postgresql", "pgsql"), source="stack", group="services",
    ),
    Var(
        "DATABASE_PASSWORD", "str", "Overrides the password in DATABASE_URL (off AWS, or a password that is never rotated); DATABASE_SECRET_ARN wins when set.",
        example="", default="", secret=True, source="user", group="services",
    ),
    Var(
        "DATABASE_SECRET_ARN", "str",
        "ARN of a Secrets Manager secret whose JSON `password` (RDS's managed, rotated master secret) is used "
        "for database connections; read when a connection opens and re-read when the password is refused.",
        example="arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-0123abcd-AbCdEf",
        default="", source="stack", group="services",
    ),
    Var(
        "REDIS_URL", "url", "Redis URL for the cache and sessions; rediss:// with ?ssl_cert_reqs=required for TLS.",
        example="redis://127.0.0.1:6379/0",
        production=True, secret=True, schemes=("redis", "rediss"), source="stack", group="services",
    ),
    Var(
        "CELERY_BROKER_URL", "url", "Celery broker (and result backend) URL; defaults to REDIS_URL with database 1 (2 if REDIS_URL uses 1).",
        example="redis://127.0.0.1:6379/1",
        secret=True, schemes=("redis", "rediss"), source="stack", group="services",
    ),
    Var(
        "AWS_STORAGE_BUCKET_NAME", "str", "S3 bucket for uploaded media; required in production (local files only in debug).",
        example="keel-staging-media", production=True, source="stack", group="services",
    ),
    Var(
        "AWS_S3_REGION_NAME", "str", "Region of the media bucket.",
        example="eu-west-1", default="", source="stack", group="services",
    ),
    Var(
        "QUEUE_METRICS_NAMESPACE", "str",
        "CloudWatch namespace beat publishes Celery's queue depth, oldest-task age and its heartbeat to, every "
        "minute; empty: not published (local runs).",
        example="keel/prod", default="", source="stack", group="services",
    ),
    Var(
        "AWS_S3_ENDPOINT_URL", "url", "Custom S3 endpoint (S3-compatible stores, test servers); empty for AWS.",
        example="http://127.0.0.1:9000", default="", schemes=("http", "https"), source="default", group="services",
    ),
    # --- Email --------------------------------------------------------------------
    Var(
        "EMAIL_URL", "url",
        "Where the app sends email: smtp+tls://USER:PASSWORD@HOST:587 (STARTTLS), smtp+ssl://...:465, "
        "ses://REGION (Amazon SES's API with the task role, no SMTP password) or consolemail:// (stdout). "
        "Empty: the console in debug mode; in production nothing is sent and each message logs a warning.",
        example="ses://eu-west-1, smtp+tls://USER:PASSWORD@smtp.example.com:587 or consolemail://",
        default="", secret=True, schemes=("smtp", "smtps", "smtp+tls", "smtp+ssl", "ses", "consolemail", "dummymail"),
        source="user", group="email",
    ),
    Var(
        "EMAIL_FROM", "str", "Sender address of the app's email (password resets, error reports): an address "
        "the EMAIL_URL service may send from (with SES, a verified identity).",
        example="noreply@app.example.com", default="webmaster@localhost", source="user", group="email",
    ),
    # --- Processes ----------------------------------------------------------------
    Var(
        "PORT", "int", "Port the web process binds on 0.0.0.0 (factor VII).",
        example="8000", default="8000", minimum=1, maximum=65535, source="stack", group="processes",
    ),
    Var(
        "WEB_CONCURRENCY", "int", "Number of gunicorn worker processes.",
        example="2", default="2", minimum=1, source="stack", group="processes",
    ),
    Var(
        "CELERY_VISIBILITY_TIMEOUT", "int", "Seconds before Redis redelivers an unacknowledged task; above the task time limit.",
        example="3600", default="3600", minimum=10, source="default", group="processes",
    ),
    # --- Logging (factor XI) -----------------------------------------------------
    Var(
        "LOG_LEVEL", "choice",
        "Minimum level of log lines written to stdout; WARNING and above also drop the access line of every request (INFO).",
        example="INFO", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"), group="logging",
    ),
    Var(
        "LOG_FORMAT", "choice", "json: one JSON object per line (production); console: readable lines for humans.",
        example="json", default="json", choices=("json", "console"), group="logging",
    ),
    # --- Documents feature -------------------------------------------------------
    Var(
        "DOCUMENT_MAX_BYTES", "int", "Largest accepted upload in bytes; larger uploads get 413.",
        example="10485760", default="10485760", minimum=1, group="documents",
    ),
    Var(
        "DOCUMENT_RETENTION_DAYS", "int", "Documents older than this many days are purged (row and object).",
        example="30", default="30", minimum=1, group="documents",
    ),
    Var(
        "DOCUMENT_PURGE_INTERVAL", "int", "Seconds between the beat schedule's purge runs.",
        example="3600", default="3600", minimum=1, group="documents",
    ),
)

BY_NAME: dict[str, Var] = {var.name: var for var in CONTRACT}

# Timings the app and the stack must agree on (seconds). The stack derives each
# container's stopTimeout from these so SIGKILL never arrives before the drain ends.
WEB_GRACEFUL_TIMEOUT = 30  # gunicorn graceful_timeout: in-flight requests get this long after SIGTERM
WEB_KEEPALIVE = 75  # gunicorn keepalive: above the load balancer's 60 s idle timeout
WORKER_SOFT_SHUTDOWN_TIMEOUT = 100  # Celery soft shutdown after SIGTERM; ECS worker stopTimeout is 120
HEALTH_PATH = "/healthz"  # liveness: answered before ALLOWED_HOSTS and the HTTPS redirect
READY_PATH = "/readyz"  # readiness: database, cache and broker, each bounded to 2 s
# Room for the multipart envelope around the largest document: the largest request body accepted
# (Django's DATA_UPLOAD_MAX_MEMORY_SIZE and the web worker's buffering front).
REQUEST_ENVELOPE_BYTES = 1_048_576


def broker_database(cache_database: int) -> int:
    """The Redis database of CELERY_BROKER_URL's default: 1, or 2 when REDIS_URL uses 1.

    The broker must never share a database with the cache; the app derives its default broker
    URL from REDIS_URL with this rule, and the stack writes the broker secret with it.
    """
    return 2 if cache_database == 1 else 1


# Names that by convention hold credentials (STRIPE_API_KEY, GITHUB_TOKEN, SMTP_PASSWORD, SENTRY_DSN):
# a variable outside the contract with such a name is treated as secret (never echoed, redacted).
CREDENTIAL_NAME = re.compile(r"(^|_)(KEY|SECRET|TOKEN|PASSWORD|PASSWD|CREDENTIALS?|DSN)$", re.IGNORECASE)


def secret_names() -> tuple[str, ...]:
    """Names of the variables that carry credentials."""
    return tuple(var.name for var in CONTRACT if var.secret)


def production_required() -> tuple[str, ...]:
    """Names that must be set when DJANGO_DEBUG is off."""
    return tuple(var.name for var in CONTRACT if var.production)
