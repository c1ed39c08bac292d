"""The app's own settings in stack config: ``keel:env`` (plain), ``keel:secrets`` and ``keel:email``.

A team adds its own variables the way it would on Heroku (``config:set``), without touching code:

    pulumi config set --path 'keel:env.SENTRY_ENVIRONMENT' staging
    pulumi config set --secret --path 'keel:secrets.STRIPE_API_KEY' sk_live_...
    pulumi config set keel:email ses          # or --secret keel:email 'smtp+tls://user:pass@host:587'

Any valid variable name is accepted; a variable of the app's contract keeps the contract's
validation. What the stack itself provides (``DATABASE_URL``, ``DJANGO_ALLOWED_HOSTS``...) and
anything that looks like a credential is refused in ``keel:env`` with the key to use instead.
Every problem is one line naming the key and the fix; a secret value is never echoed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Any
from urllib.parse import urlsplit

from keel import contract

NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Names that by convention hold credentials (STRIPE_API_KEY, GITHUB_TOKEN, SENTRY_DSN...): the app's own
# rule (contract.CREDENTIAL_NAME), which also redacts them from its logs.
CREDENTIAL_NAME = contract.CREDENTIAL_NAME
# django-environ's SMTP schemes (Env.EMAIL_SCHEMES). The URL must name its port: without one smtplib
# picks 25 or 465 by scheme, and the tasks' egress must open exactly the port used.
SMTP_SCHEMES = ("smtp", "smtp+tls", "smtps", "smtp+ssl")
SES = "ses"
STATIC_AWS_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


def secret_command(name: str) -> str:
    return f"use `pulumi config set --secret --path 'keel:secrets.{name}' ...`"


# Variables the stack provides itself, and what a user sets instead (one line, the fix).
OWNED_BY_STACK: dict[str, str] = {
    "DATABASE_URL": "use `pulumi config set --secret keel:databaseUrl ...` to attach your own database",
    "DATABASE_SECRET_ARN": "use `pulumi config set keel:databaseSecretArn ...` next to keel:databaseUrl",
    "REDIS_URL": "use `pulumi config set --secret keel:redisUrl ...` to attach your own Redis",
    "CELERY_BROKER_URL": "it follows keel:redisUrl (the same server on database 1, or 2)",
    "DJANGO_SECRET_KEY": "use `pulumi config set --secret keel:djangoSecretKey ...` (generated when unset)",
    "DJANGO_SECRET_KEY_FALLBACKS": "use `pulumi config set --secret keel:djangoSecretKeyFallbacks ...`",
    "DJANGO_ALLOWED_HOSTS": "it follows keel:domain (`pulumi config set keel:domain ...`)",
    "DJANGO_CSRF_TRUSTED_ORIGINS": "it follows keel:domain (`pulumi config set keel:domain ...`)",
    "DJANGO_HTTPS": "it follows keel:domain (HTTPS with a domain, plain HTTP on dev without one)",
    "DJANGO_DEBUG": "a deployed stack always runs in production mode (DJANGO_DEBUG=false)",
    "AWS_STORAGE_BUCKET_NAME": "the stack creates the media bucket and sets it",
    "AWS_S3_REGION_NAME": "it follows aws:region",
    "PORT": "the stack fixes it to the load balancer's target port",
    "WEB_CONCURRENCY": "it follows the process size (`pulumi config set --path keel:web.cpu ...`)",
    "EMAIL_URL": "use `pulumi config set keel:email ses` or `pulumi config set --secret keel:email 'smtp+tls://...'`",
    **{name: "the tasks act with their task role, never static AWS keys" for name in STATIC_AWS_KEYS},
}


@dataclass(frozen=True)
class Email:
    """Outgoing mail: Amazon SES through the task role, or an SMTP server (URL kept secret)."""

    url: str  # EMAIL_URL as the app reads it
    port: int  # the TCP port the tasks reach (443 for SES's HTTPS API)

    @property
    def ses(self) -> bool:
        return self.url.startswith(f"{SES}://")


def ses_url(region: str) -> str:
    """EMAIL_URL for Amazon SES's API in ``region``: the app's ses://REGION (app/config/email.py, django-ses
    signing with the task role), so no SMTP credential exists and mail leaves over HTTPS."""
    return f"{SES}://{region}"


def as_text(value: Any) -> str | None:
    """A config value as the environment sees it: `pulumi config set --path` stores 4 and true typed."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)
    return None


def parse_object(key: str, text: str | None, errors: list[str]) -> dict[str, Any]:
    if text is None:
        return {}
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError:
        parsed = None
    if not isinstance(parsed, dict):
        secret = " --secret" if key.endswith(":secrets") else ""
        errors.append(f"{key} is not an object: set one variable at a time with "
                      f"`pulumi config set{secret} --path '{key}.NAME' VALUE`")
        return {}
    return parsed


def _entries(key: str, text: str | None, errors: list[str], *checks) -> dict[str, str]:
    """The NAME: value pairs of the object at ``key`` that pass every check, as strings.

    Each check takes (name, contract Var or None, value as text or None) and returns the problem, or
    None; the first problem of an entry goes to ``errors`` and the entry is left out.
    """
    found: dict[str, str] = {}
    for name, value in parse_object(key, text, errors).items():
        var, text_value = contract.BY_NAME.get(name), as_text(value)
        problem = next((p for p in (check(name, var, text_value) for check in (_name_problem(key), *checks)) if p),
                       None)
        if problem:
            errors.append(problem)
        else:
            found[name] = text_value
    return found


def _name_problem(key: str):
    def check(name, var, value):
        if not NAME.match(name):
            return (f"{key}.{name} is not a valid environment variable name: allowed letters, digits and _, "
                    "not starting with a digit")
        if name in OWNED_BY_STACK:
            verb = "is refused" if name in STATIC_AWS_KEYS else "is set by the stack"
            return f"{key}.{name} {verb}: {OWNED_BY_STACK[name]}"
        return None
    return check


def plain_env(ns: str, text: str | None, errors: list[str]) -> dict[str, str]:
    """keel:env: plain variables, any name; the contract's own keep their validation."""
    key = f"{ns}env"
    return _entries(
        key, text, errors,
        lambda name, var, value: f"{key}.{name} {'is' if var else 'looks like'} a credential, never plain "
        f"environment: {secret_command(name)}"
        if (var is not None and var.secret) or (var is None and CREDENTIAL_NAME.search(name)) else None,
        lambda name, var, value: f"{key}.{name} is not a string: set it with "
        f"`pulumi config set --path '{key}.{name}' VALUE`" if value is None else None,
        lambda name, var, value: f"{key}.{name} holds a URL with a password, never plain environment: "
        f"{secret_command(name)}" if "://" in value and _has_password(value) else None,
        lambda name, var, value: f"{key}.{name} = {value!r} is invalid: {contract.check_value(var, value)}"
        if var is not None and contract.check_value(var, value) else None)


def _has_password(url: str) -> bool:
    try:
        return bool(urlsplit(url).password)
    except ValueError:
        return False


def own_secrets(ns: str, text: str | None, encrypted: bool, errors: list[str],
                plain: dict[str, str]) -> dict[str, str]:
    """keel:secrets: each value goes to Secrets Manager and reaches the tasks through ECS `secrets`.

    ``encrypted``: Pulumi marks the keel:secrets object secret (PULUMI_CONFIG_SECRET_KEYS) when its
    values were set with --secret; a value set in clear would sit readable in the stack file.
    """
    key = f"{ns}secrets"
    return _entries(
        key, text, errors,
        lambda name, var, value: f"{key}.{name} was set without --secret (it sits readable in the stack file): "
        f"use `pulumi config set --secret --path '{key}.{name}' ...`" if not encrypted else None,
        lambda name, var, value: f"{key}.{name} is a plain setting of the app's contract: "
        f"use `pulumi config set --path '{ns}env.{name}' ...`" if var is not None and not var.secret else None,
        lambda name, var, value: f"{key}.{name} is also set in {ns}env.{name}: keep one "
        f"(`pulumi config rm --path '{ns}env.{name}'`)" if name in plain else None,
        lambda name, var, value: f"{key}.{name} is empty or not a string: "
        f"use `pulumi config set --secret --path '{key}.{name}' VALUE`" if not value else None,
        # Never echo the value.
        lambda name, var, value: f"{key}.{name} = <secret> is invalid: {contract.check_value(var, value)}"
        if var is not None and contract.check_value(var, value) else None)


def email(ns: str, value: str | None, encrypted: bool, region: str | None, domain: str | None,
          errors: list[str]) -> Email | None:
    """keel:email: `ses` (an SES identity for keel:domain) or an SMTP URL set with --secret."""
    key = f"{ns}email"
    if not value:
        return None
    if value == SES:
        if domain is None:
            errors.append(f"{key} = 'ses' needs {ns}domain: SES sends from an identity on your domain "
                          f"(`pulumi config set {ns}domain ...`)")
            return None
        return Email(url=ses_url(region or "us-east-1"), port=443)
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        parts, port = None, None
    if parts is None or parts.scheme not in SMTP_SCHEMES or not parts.hostname:
        shown = value if "://" not in value else f"<URL with scheme {parts.scheme if parts else '?'}>"
        errors.append(f"{key} = {shown!r} is invalid: allowed ses, or an SMTP URL "
                      f"({', '.join(s + '://' for s in SMTP_SCHEMES)}) set with "
                      f"`pulumi config set --secret {key} 'smtp+tls://USER:PASSWORD@HOST:587'`")
        return None
    if not encrypted:
        errors.append(f"{key} holds an SMTP URL in clear (it carries a password): "
                      f"use `pulumi config set --secret {key} '{parts.scheme}://USER:PASSWORD@HOST:PORT'`")
        return None
    if parts.scheme == "smtp" and parts.password:
        errors.append(f"{key} = <secret SMTP URL> uses smtp:// with a password, which the app refuses to send "
                      "unencrypted: use smtp+tls:// (port 587) or smtp+ssl:// (465)")
        return None
    if port is None:
        errors.append(f"{key} = <secret SMTP URL> has no port: add it (587 for STARTTLS with smtp+tls://, "
                      "465 with smtps://), so the tasks' security group opens exactly that port")
        return None
    return Email(url=value, port=port)


def email_warnings(ns: str, mail: Email | None) -> tuple[str, ...]:
    if mail and not mail.ses and urlsplit(mail.url).scheme == "smtp":
        return (f"{ns}email uses smtp:// without TLS: every message crosses the internet in clear; use "
                "smtp+tls:// (port 587) or smtp+ssl:// (465)",)
    return ()


FROM = "EMAIL_FROM"  # the app's sender address (contract); its default webmaster@localhost cannot send


def from_address(ns: str, env: dict[str, str], mail: Email | None, domain: str | None,
                 errors: list[str]) -> dict[str, str]:
    """EMAIL_FROM when mail is on: noreply@DOMAIN unless keel:env sets it; with SES, on the verified domain."""
    if mail is None:
        return {}
    chosen = env.get(FROM)
    if chosen is None:
        if domain:
            return {FROM: f"noreply@{domain}"}
        errors.append(f"{ns}email is set on a stack without {ns}domain: set the sender with "
                      f"`pulumi config set --path '{ns}env.{FROM}' noreply@YOUR-DOMAIN`")
        return {}
    address = parseaddr(chosen)[1].lower()
    if mail.ses and not address.endswith(f"@{domain}"):
        errors.append(f"{ns}env.{FROM} = {chosen!r} is invalid with {ns}email = 'ses': allowed an address "
                      f"@{domain} (SES sends only from the verified domain)")
    return {}


SECRET_ARN = re.compile(r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@!-]+$")


def database_secret_arn(ns: str, value: str | None, database_url: str | None, errors: list[str]) -> str | None:
    """keel:databaseSecretArn: the rotating secret of an attached RDS database (its JSON `password`)."""
    if not value:
        return None
    key = f"{ns}databaseSecretArn"
    if not SECRET_ARN.match(value):
        errors.append(f"{key} = {value!r} is invalid: allowed a Secrets Manager secret ARN like "
                      "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-0123abcd-AbCdEf")
        return None
    if database_url is None:
        errors.append(f"{key} is set without {ns}databaseUrl: allowed only for an attached database (the "
                      "stack's own RDS secret is wired already); `pulumi config set --secret "
                      f"{ns}databaseUrl ...` or `pulumi config rm {ns}databaseSecretArn`")
        return None
    return value
