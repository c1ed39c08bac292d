"""Parse and validate the process environment against the contract (factor III).

``load()`` returns every contract variable parsed to a Python value, or raises
``ConfigError`` listing *every* problem at once. ``load_or_exit()`` is what the
processes call (settings, gunicorn's master, Celery): on bad config it prints one
line per problem to stderr and exits with status 78 (EX_CONFIG) before serving,
never with a traceback.

Values of secret variables never appear in messages.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from email.utils import parseaddr
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from config.contract import BY_NAME, CONTRACT, CREDENTIAL_NAME, Var, broker_database
from config.logs import add_redacted_value

EX_CONFIG = 78  # sysexits.h: configuration error
TRUE_WORDS = ("true", "1", "yes", "on")
FALSE_WORDS = ("false", "0", "no", "off")
REDIS_CERT_REQS = ("required", "optional", "none")
WEAK_KEY_PREFIX = "django-insecure-"
MIN_KEY_LENGTH = 50
MIN_KEY_UNIQUE = 5
# Email URL schemes that name no server (django-environ's backends that print or drop mail).
HOSTLESS_SCHEMES = ("consolemail", "dummymail")
AWS_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
SECRET_ARN = re.compile(r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:\S+$")
# Debug mode only: a fixed key so local sessions survive restarts. Refused in production.
DEBUG_SECRET_KEY = WEAK_KEY_PREFIX + "local-development-only-never-use-in-production"


class ConfigError(Exception):
    """The environment does not satisfy the contract; ``problems`` has one line per issue."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


class _Invalid(Exception):
    """One variable's value is wrong; the message says what, without the value if secret."""


def _shown(var: Var, raw: str) -> str:
    return "(value hidden: secret)" if var.secret else repr(raw)


def _example(var: Var) -> str:
    return var.example if var.example else "(empty)"


def _parse_bool(var: Var, raw: str) -> bool:
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise _Invalid(f"{_shown(var, raw)} is not a boolean (use true or false)")


def _parse_int(var: Var, raw: str) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        raise _Invalid(f"{_shown(var, raw)} is not a whole number") from None
    if var.minimum is not None and value < var.minimum:
        raise _Invalid(f"{value} is below the minimum {var.minimum}")
    if var.maximum is not None and value > var.maximum:
        raise _Invalid(f"{value} is above the maximum {var.maximum}")
    return value


def _parse_list(var: Var, raw: str) -> list[str]:
    return [item.strip() for item in raw.split(",") if item.strip()]


def _parse_choice(var: Var, raw: str) -> str:
    for choice in var.choices:
        if raw.strip().lower() == choice.lower():
            return choice
    raise _Invalid(f"{_shown(var, raw)} is not one of {', '.join(var.choices)}")


def _parse_url(var: Var, raw: str) -> str:
    value = raw.strip()
    if value == "":
        return ""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a non-numeric port
    except ValueError as exc:
        raise _Invalid(f"{_shown(var, raw)} is not a valid URL ({exc})") from None
    if not parts.scheme or "://" not in value:
        raise _Invalid(f"{_shown(var, raw)} is not a URL (expected {(var.schemes or ('https',))[0]}://...)")
    if var.schemes and parts.scheme not in var.schemes:
        raise _Invalid(f"scheme {parts.scheme!r} is not one of {', '.join(var.schemes)}")
    if parts.scheme in HOSTLESS_SCHEMES:
        return value
    if not parts.hostname:
        raise _Invalid("the URL has no host")
    if parts.scheme == "ses" and not AWS_REGION.match(parts.hostname):
        raise _Invalid(f"{parts.hostname!r} is not an AWS region (ses://REGION, e.g. ses://eu-west-1)")
    if parts.scheme in ("redis", "rediss"):
        return _normalise_redis_url(parts)
    if parts.scheme in ("postgres", "postgresql", "pgsql") and not parts.path.strip("/"):
        raise _Invalid("the URL names no database (add /DBNAME after the host)")
    return value


def _normalise_redis_url(parts) -> str:
    """Check the database index; on rediss:// make certificate checking explicit (required by default).

    Celery's result backend refuses a rediss:// URL without ``ssl_cert_reqs`` (celery/celery#8113),
    so the safe value is filled in here once, for the cache, sessions, broker and results alike.
    """
    db = parts.path.strip("/")
    if db and not db.isdigit():
        raise _Invalid(f"Redis database {db!r} is not a number (use /0, /1, ...)")
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    if parts.scheme == "rediss":
        reqs = query.get("ssl_cert_reqs", "required").lower().removeprefix("cert_")
        if reqs not in REDIS_CERT_REQS:
            raise _Invalid(f"ssl_cert_reqs {reqs!r} is not one of {', '.join(REDIS_CERT_REQS)}")
        query["ssl_cert_reqs"] = reqs
    return urlunsplit(parts._replace(query=urlencode(query)))


PARSERS = {
    "str": lambda var, raw: raw,
    "bool": _parse_bool,
    "int": _parse_int,
    "list": _parse_list,
    "choice": _parse_choice,
    "url": _parse_url,
}


def _problem(var: Var, what: str) -> str:
    # An example with spaces is an instruction ("generate with: ..."), not a value to paste.
    example = var.example if " " in var.example else f"{var.name}={_example(var)}"
    return f"{var.name}: {what}. {var.description} Example: {example}"


def _parse_one(var: Var, environ: Mapping[str, str], debug: bool) -> tuple[Any, str | None]:
    """Return (value, problem) for one variable; problem is None when the value is fine."""
    raw = environ.get(var.name)
    if raw is not None and raw.strip() == "" and var.default is None:
        if var.production and not debug:
            return None, _problem(var, "is set but empty (required in production, DJANGO_DEBUG is off)")
        raw = None
    if raw is None:
        if var.production and not debug:
            return None, _problem(var, "is missing (required in production, DJANGO_DEBUG is off)")
        if var.default is None:
            return None, None
        raw = var.default
    if raw.strip() == "" and var.kind in ("int", "bool", "choice"):
        return None, _problem(var, "is set but empty")
    try:
        return PARSERS[var.kind](var, raw), None
    except _Invalid as exc:
        return None, _problem(var, str(exc))


def _redis_db(url: str) -> int:
    return int(urlsplit(url).path.strip("/") or 0)


def _with_redis_db(url: str, db: int) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{db}"))


def default_broker_url(redis_url: str) -> str:
    """REDIS_URL with database 1; database 2 when REDIS_URL itself uses 1, so the two never share keys."""
    return _with_redis_db(redis_url, broker_database(_redis_db(redis_url)))


def _same_redis_database(a: str, b: str) -> bool:
    pa, pb = urlsplit(a), urlsplit(b)
    return (pa.hostname, pa.port or 6379, _redis_db(a)) == (pb.hostname, pb.port or 6379, _redis_db(b))


def _secret_key_problem(key: str | None) -> str | None:
    if key is None:
        return None
    if key.startswith(WEAK_KEY_PREFIX):
        return f"starts with {WEAK_KEY_PREFIX!r}, Django's marker of a development key"
    if len(key) < MIN_KEY_LENGTH:
        return f"is too short ({len(key)} characters, at least {MIN_KEY_LENGTH} needed)"
    if len(set(key)) < MIN_KEY_UNIQUE:
        return f"is not random enough ({len(set(key))} distinct characters, at least {MIN_KEY_UNIQUE} needed)"
    return None


def _host_and_origin_problems(values: dict[str, Any]) -> list[str]:
    """The two classic mix-ups: URLs in ALLOWED_HOSTS, bare host names in CSRF_TRUSTED_ORIGINS."""
    problems = []
    urls = [host for host in values.get("DJANGO_ALLOWED_HOSTS") or [] if "/" in host]
    if urls:
        problems.append(_problem(BY_NAME["DJANGO_ALLOWED_HOSTS"], f"{urls[0]!r} is a URL; list host names only"))
    bare = [origin for origin in values.get("DJANGO_CSRF_TRUSTED_ORIGINS") or [] if "://" not in origin]
    if bare:
        problems.append(_problem(
            BY_NAME["DJANGO_CSRF_TRUSTED_ORIGINS"], f"{bare[0]!r} has no scheme; write https://{bare[0]}"
        ))
    return problems


def _secret_arn_problem(arn: str | None) -> str | None:
    if arn and not SECRET_ARN.match(arn):
        return f"{arn!r} is not a Secrets Manager secret ARN (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME)"
    return None


def _email_problems(values: dict[str, Any], debug: bool) -> list[str]:
    """A sender address that can send, and no SMTP password over plain text in production."""
    problems = []
    sender = values.get("EMAIL_FROM") or ""
    if "@" not in parseaddr(sender)[1]:
        problems.append(_problem(BY_NAME["EMAIL_FROM"], f"{sender!r} is not an email address"))
    url = values.get("EMAIL_URL") or ""
    scheme = urlsplit(url).scheme
    if debug or not url or scheme in HOSTLESS_SCHEMES:
        return problems
    if sender.rstrip(">").endswith("@localhost"):
        problems.append(_problem(
            BY_NAME["EMAIL_FROM"], f"{sender!r} cannot send through {scheme}://; set an address of your domain",
        ))
    if scheme == "smtp" and urlsplit(url).password:
        problems.append(_problem(
            BY_NAME["EMAIL_URL"], "smtp:// would send the password unencrypted; use smtp+tls:// (port 587) or smtp+ssl:// (465)",
        ))
    return problems


def _cross_checks(values: dict[str, Any], debug: bool) -> list[str]:
    """Rules that involve the mode or more than one variable."""
    problems = _email_problems(values, debug)
    bad_arn = _secret_arn_problem(values.get("DATABASE_SECRET_ARN"))
    if bad_arn:
        problems.append(_problem(BY_NAME["DATABASE_SECRET_ARN"], bad_arn))
    if not debug:
        weak = _secret_key_problem(values.get("DJANGO_SECRET_KEY"))
        if weak:
            problems.append(_problem(BY_NAME["DJANGO_SECRET_KEY"], weak))
    problems += _host_and_origin_problems(values)
    redis_url, broker_url = values.get("REDIS_URL"), values.get("CELERY_BROKER_URL")
    if redis_url and broker_url and _same_redis_database(redis_url, broker_url):
        problems.append(_problem(
            BY_NAME["CELERY_BROKER_URL"],
            "uses the same Redis database as REDIS_URL, so cache eviction and cache.clear() would drop queued tasks",
        ))
    return problems


def _fill_debug_defaults(values: dict[str, Any]) -> None:
    if not values.get("DJANGO_SECRET_KEY"):
        values["DJANGO_SECRET_KEY"] = DEBUG_SECRET_KEY
    if not values.get("DJANGO_ALLOWED_HOSTS"):
        values["DJANGO_ALLOWED_HOSTS"] = ["localhost", "127.0.0.1", "[::1]"]


def load(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Every contract variable parsed from ``environ``; raises ConfigError naming every problem."""
    environ = os.environ if environ is None else environ
    debug_value, debug_problem = _parse_one(BY_NAME["DJANGO_DEBUG"], environ, debug=False)
    debug = bool(debug_value)
    values: dict[str, Any] = {"DJANGO_DEBUG": debug}
    problems = [debug_problem] if debug_problem else []
    for var in CONTRACT:
        if var.name == "DJANGO_DEBUG":
            continue
        values[var.name], problem = _parse_one(var, environ, debug)
        if problem:
            problems.append(problem)
    if values.get("REDIS_URL") and not values.get("CELERY_BROKER_URL"):
        values["CELERY_BROKER_URL"] = default_broker_url(values["REDIS_URL"])
    problems += _cross_checks(values, debug)
    if problems:
        raise ConfigError(problems)
    if debug:
        _fill_debug_defaults(values)
    return values


def format_problems(problems: list[str]) -> str:
    noun = "problem" if len(problems) == 1 else "problems"
    lines = [f"keel: the environment is not a valid configuration ({len(problems)} {noun}):"]
    lines += [f"  {problem}" for problem in problems]
    lines.append("keel: fix the variables above (see .env.example and docs/configuration.md).")
    return "\n".join(lines)


_LOADED: dict[str, Any] | None = None


def load_or_exit() -> dict[str, Any]:
    """The parsed configuration of this process; on bad config print every problem and exit 78."""
    global _LOADED
    if _LOADED is None:
        try:
            _LOADED = load()
        except ConfigError as exc:
            print(format_problems(exc.problems), file=sys.stderr, flush=True)
            raise SystemExit(EX_CONFIG) from None
    return _LOADED


def _credential_strings(value: Any) -> set[str]:
    """The strings of a secret value worth redacting: itself, and the password of a URL."""
    found: set[str] = set()
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, str) and len(item) >= 6:
            found.add(item)
            password = urlsplit(item).password if "://" in item else None
            if password and len(password) >= 4:
                found.add(password)
    return found


def secret_values(values: Mapping[str, Any]) -> list[str]:
    """The credential strings present in a configuration, for redaction (longest first)."""
    found: set[str] = set()
    for name in (var.name for var in CONTRACT if var.secret):
        found |= _credential_strings(values.get(name))
    return sorted(found, key=len, reverse=True)


# --- Variables outside the contract ------------------------------------------------------------
OWN_EXAMPLES = {"str": "text", "int": "42", "bool": "true", "list": "a,b", "url": "https://host.example.com/path"}


def env(name: str, default: Any = None, *, cast: str = "str", secret: bool | None = None) -> Any:
    """A variable the contract does not declare (a team's own: SENTRY_DSN, STRIPE_API_KEY...).

    Unset or empty gives ``default``; otherwise the value parsed as ``cast`` (str, int, bool, list,
    url) with the contract's parsers, and a bad one stops the process like a contract problem: one
    line naming the variable, exit status 78. ``secret`` (by default: the name ends in _KEY, _SECRET,
    _TOKEN, _PASSWORD or _DSN) keeps the value out of messages and redacts it from every log line.

    A variable declared in the contract returns the contract's validated value (``default`` and
    ``cast`` are then ignored), so adding one to config/contract.py changes no call site.
    """
    if name in BY_NAME:
        return load_or_exit()[name]
    if cast not in OWN_EXAMPLES:
        raise ValueError(f"env({name!r}): cast {cast!r} is not one of {', '.join(OWN_EXAMPLES)}")
    secret = bool(CREDENTIAL_NAME.search(name)) if secret is None else secret
    raw = os.environ.get(name, "")
    if raw.strip() == "":
        return default
    var = Var(name, cast, f"Read as {cast} by env({name!r}) (not in config/contract.py).",
              example=OWN_EXAMPLES[cast], secret=secret, source="user")
    value, problem = _parse_one(var, {name: raw}, debug=True)
    if problem:
        print(format_problems([problem]), file=sys.stderr, flush=True)
        raise SystemExit(EX_CONFIG)
    if secret:
        for text in _credential_strings(value):
            add_redacted_value(text)
    return value
