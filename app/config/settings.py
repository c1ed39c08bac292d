"""The one settings module: every value comes from the environment through the contract.

There is no dev/prod split. ``DJANGO_DEBUG`` off (the default) is production mode, where
``config.env`` requires every production variable and a strong secret key; a bad
environment stops the process here with one line per problem (exit status 78).
"""

from __future__ import annotations

import logging
import ssl
import warnings
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import csp.constants
import environ

from config import contract
from config.email import email_settings
from config.env import load_or_exit, secret_values
from config.logs import logging_config, set_redacted_values

ENV = load_or_exit()
set_redacted_values(secret_values(ENV))

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = ENV["DJANGO_DEBUG"]
SECRET_KEY = ENV["DJANGO_SECRET_KEY"]
SECRET_KEY_FALLBACKS = ENV["DJANGO_SECRET_KEY_FALLBACKS"]
ALLOWED_HOSTS = ENV["DJANGO_ALLOWED_HOSTS"]
CSRF_TRUSTED_ORIGINS = ENV["DJANGO_CSRF_TRUSTED_ORIGINS"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "storages",
    "csp",
    "core",
    "documents",
]

MIDDLEWARE = [
    # Both before SecurityMiddleware: probes arrive over plain HTTP with the task IP as Host.
    "config.middleware.RequestIdMiddleware",
    "config.middleware.HealthMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "config.middleware.PermissionsPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Wrong passwords per username and client address, counted in the cache (config/throttle.py).
    "config.throttle.LoginThrottleMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


# --- Backing services, attached by URL (factor IV) -------------------------------------
def _database() -> dict:
    config = environ.Env.db_url_config(ENV["DATABASE_URL"]) if ENV["DATABASE_URL"] else {
        "ENGINE": "django.db.backends.postgresql", "NAME": "keel", "HOST": "127.0.0.1", "USER": "postgres",
    }
    if ENV["DATABASE_PASSWORD"]:
        config["PASSWORD"] = ENV["DATABASE_PASSWORD"]
    # Django's backend plus a password read from Secrets Manager when a connection opens, so
    # RDS's managed rotation does not break new connections of running tasks (config/postgres/).
    config["ENGINE"] = "config.postgres"
    if ENV["DATABASE_SECRET_ARN"]:
        config["PASSWORD_SECRET_ARN"] = ENV["DATABASE_SECRET_ARN"]
    config.setdefault("OPTIONS", {}).setdefault("connect_timeout", 5)
    # Persistent connections, checked before reuse so a failover does not surface as errors.
    config.update(CONN_MAX_AGE=60, CONN_HEALTH_CHECKS=True, ATOMIC_REQUESTS=True)
    return config


DATABASES = {"default": _database()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = ENV["REDIS_URL"] or "redis://127.0.0.1:6379/0"
REDIS_OPTIONS = {"socket_connect_timeout": 2, "socket_timeout": 2, "health_check_interval": 30}
CACHES = {
    "default": {
        "BACKEND": "config.cache.RedisCache",  # Django's, with one client per connection pool
        "LOCATION": REDIS_URL,
        "OPTIONS": REDIS_OPTIONS,
    },
    # Sessions read through this alias: a Redis outage falls back to the database copy.
    "sessions": {
        "BACKEND": "config.cache.FailSoftRedisCache",
        "LOCATION": REDIS_URL,
        "OPTIONS": REDIS_OPTIONS,
        "KEY_PREFIX": "sessions",
    },
}
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
SESSION_CACHE_ALIAS = "sessions"


# --- Media and static files ------------------------------------------------------------
def _default_storage() -> dict:
    if ENV["AWS_STORAGE_BUCKET_NAME"]:
        options = {
            "bucket_name": ENV["AWS_STORAGE_BUCKET_NAME"],
            "default_acl": None,  # the bucket enforces owner-only objects; never send ACLs
            "querystring_auth": True,  # private objects, reached through presigned URLs
            "querystring_expire": 300,
            "file_overwrite": False,
            "signature_version": "s3v4",
        }
        if ENV["AWS_S3_REGION_NAME"]:
            options["region_name"] = ENV["AWS_S3_REGION_NAME"]
        if ENV["AWS_S3_ENDPOINT_URL"]:
            options["endpoint_url"] = ENV["AWS_S3_ENDPOINT_URL"]
        # No access keys here: boto3's default chain finds the ECS task role (or a local profile).
        # S3Storage writing the sniffed type and disposition of each document (documents/s3.py).
        return {"BACKEND": "documents.s3.DocumentS3Storage", "OPTIONS": options}
    # Only reachable in debug: config.env requires the bucket in production.
    return {"BACKEND": "django.core.files.storage.FileSystemStorage"}


STORAGES = {
    "default": _default_storage(),
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
AWS_DEFAULT_ACL = None
MEDIA_ROOT = BASE_DIR / "media"
MEDIA_URL = "/media/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATIC_URL = "/static/"
# Only the hashed names are collected (pages link static files by {% static %}, which names the hashed
# file): half the files in the image, and half the files WhiteNoise indexes as each web process starts.
WHITENOISE_KEEP_ONLY_HASHED_FILES = True
if DEBUG:
    # Locally nothing is collected (the image collects at build); WhiteNoise serves from the apps.
    warnings.filterwarnings("ignore", message="No directory at", module="whitenoise.base")
# The container's root filesystem is read-only: large uploads spill to /tmp (a tmpfs).
FILE_UPLOAD_TEMP_DIR = "/tmp"
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440

# --- Documents feature -------------------------------------------------------------------
DOCUMENT_MAX_BYTES = ENV["DOCUMENT_MAX_BYTES"]
DOCUMENT_RETENTION_DAYS = ENV["DOCUMENT_RETENTION_DAYS"]
DOCUMENT_PURGE_INTERVAL = ENV["DOCUMENT_PURGE_INTERVAL"]
# Django refuses larger request bodies before the view runs; leave room for the multipart envelope.
DATA_UPLOAD_MAX_MEMORY_SIZE = DOCUMENT_MAX_BYTES + contract.REQUEST_ENVELOPE_BYTES

# --- Email (EMAIL_URL, config/email.py) -----------------------------------------------------
_EMAIL = email_settings(ENV["EMAIL_URL"], DEBUG)
# SMTP, console, or django-ses; unset EMAIL_URL: the console in debug, nothing sent in production.
EMAIL_BACKEND = _EMAIL["EMAIL_BACKEND"]
# The SMTP server of smtp+tls://USER:PASSWORD@HOST:587 (STARTTLS) or smtp+ssl://...:465 (TLS).
EMAIL_HOST = _EMAIL.get("EMAIL_HOST") or "localhost"
EMAIL_PORT = _EMAIL.get("EMAIL_PORT") or 25
EMAIL_HOST_USER = _EMAIL.get("EMAIL_HOST_USER") or ""
EMAIL_HOST_PASSWORD = _EMAIL.get("EMAIL_HOST_PASSWORD") or ""
EMAIL_USE_TLS = _EMAIL.get("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = _EMAIL.get("EMAIL_USE_SSL", False)
# A slow mail server fails the request after this many seconds instead of holding a worker.
EMAIL_TIMEOUT = _EMAIL.get("EMAIL_TIMEOUT", 10)
# Amazon SES for ses://REGION (django-ses): API v2, credentials from boto3's chain (the task role).
USE_SES_V2 = _EMAIL.get("USE_SES_V2", True)
AWS_SES_REGION_NAME = _EMAIL.get("AWS_SES_REGION_NAME")
AWS_SES_REGION_ENDPOINT_URL = _EMAIL.get("AWS_SES_REGION_ENDPOINT_URL")
AWS_SES_CONFIGURATION_SET = _EMAIL.get("AWS_SES_CONFIGURATION_SET")
AWS_SES_AUTO_THROTTLE = _EMAIL.get("AWS_SES_AUTO_THROTTLE")
# From address of password resets (DEFAULT_FROM_EMAIL) and of error mail to ADMINS (SERVER_EMAIL).
DEFAULT_FROM_EMAIL = SERVER_EMAIL = ENV["EMAIL_FROM"]

# --- Auth ----------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Security (check --deploy passes in production mode) -------------------------------------
# The load balancer terminates TLS and says so in X-Forwarded-Proto.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# DJANGO_HTTPS=false only for a stack without a domain (plain HTTP); core.apps logs a warning.
HTTPS_ONLY = not DEBUG and ENV["DJANGO_HTTPS"]
SECURE_SSL_REDIRECT = HTTPS_ONLY
SECURE_HSTS_SECONDS = 31_536_000 if HTTPS_ONLY else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS_ONLY
SECURE_HSTS_PRELOAD = HTTPS_ONLY
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_SECURE = HTTPS_ONLY
CSRF_COOKIE_SECURE = HTTPS_ONLY
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
USE_X_FORWARDED_HOST = False
# Content-Security-Policy from django-csp (Django 5.2 has no built-in CSP; 6.0 does): only this
# origin's scripts, styles, images and fonts, no plugins, no framing, forms post only here. The
# sample pages and the admin load with no violation in Chromium (tests/app/test_browser_headers.py).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [csp.constants.SELF],
        "script-src": [csp.constants.SELF],
        "style-src": [csp.constants.SELF],
        "img-src": [csp.constants.SELF, "data:"],
        "font-src": [csp.constants.SELF],
        "connect-src": [csp.constants.SELF],
        "object-src": [csp.constants.NONE],
        "base-uri": [csp.constants.NONE],
        "form-action": [csp.constants.SELF],
        "frame-ancestors": [csp.constants.NONE],
    },
}
# Browser features the app never uses, refused to any page or frame (config.middleware).
PERMISSIONS_POLICY = ("accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), "
                      "microphone=(), payment=(), usb=()")

# --- Celery (read by config.celery with namespace CELERY) ------------------------------------
CELERY_BROKER_URL = ENV["CELERY_BROKER_URL"] or "redis://127.0.0.1:6379/1"
CELERY_RESULT_BACKEND = CELERY_BROKER_URL


def _redis_tls(url: str) -> dict | None:
    """Celery's TLS options for a rediss:// URL, from its ssl_cert_reqs (config.env makes it explicit)."""
    if not url.startswith("rediss://"):
        return None
    query = dict(parse_qsl(urlsplit(url).query))
    options = {key: query[key] for key in ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile") if key in query}
    reqs = query.get("ssl_cert_reqs", "required")
    options["ssl_cert_reqs"] = {"required": ssl.CERT_REQUIRED, "optional": ssl.CERT_OPTIONAL}.get(reqs, ssl.CERT_NONE)
    return options


# Without these kombu falls back to *unverified* TLS for rediss:// (celery/celery#8113).
if _redis_tls(CELERY_BROKER_URL):
    CELERY_BROKER_USE_SSL = _redis_tls(CELERY_BROKER_URL)
    CELERY_REDIS_BACKEND_USE_SSL = _redis_tls(CELERY_BROKER_URL)
CELERY_VISIBILITY_TIMEOUT = ENV["CELERY_VISIBILITY_TIMEOUT"]
_transport = {"visibility_timeout": CELERY_VISIBILITY_TIMEOUT}
CELERY_BROKER_TRANSPORT_OPTIONS = _transport
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = _transport
CELERY_TASK_ACKS_LATE = True  # at-least-once: tasks are idempotent
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Limits stay below the visibility timeout so Redis never redelivers a task that is still running.
CELERY_TASK_TIME_LIMIT = CELERY_VISIBILITY_TIMEOUT * 9 // 10
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_TIME_LIMIT * 9 // 10
CELERY_WORKER_SOFT_SHUTDOWN_TIMEOUT = contract.WORKER_SOFT_SHUTDOWN_TIMEOUT
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_WORKER_REDIRECT_STDOUTS = False
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_EXPIRES = 86_400
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 5, "interval_start": 0.2, "interval_step": 0.5, "interval_max": 2}
CELERY_WORKER_SEND_TASK_EVENTS = False

# --- Logging (factor XI) ----------------------------------------------------------------------
LOG_LEVEL = ENV["LOG_LEVEL"]
LOG_FORMAT = ENV["LOG_FORMAT"]
LOGGING = logging_config(LOG_LEVEL, LOG_FORMAT)
logging.captureWarnings(True)  # Python warnings become log lines, JSON like the rest

# --- Your own settings ---------------------------------------------------------------------------
# Read a variable the contract does not declare with config.env.env(), e.g.
#     SENTRY_DSN = env("SENTRY_DSN", default=None, cast="url")
# and add one Var to config/contract.py when it should be validated at start and documented
# (docs/configuration.md, "Your own variables").
