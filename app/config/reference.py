"""Documentation generated from the contract: ``.env.example`` and docs/configuration.md's reference.

    python -m config.reference          # rewrite both from config/contract.py
    python -m config.reference --check  # exit 1 if either is out of date (the tests check too)
"""

from __future__ import annotations

import sys
from pathlib import Path

from config import contract
from config.contract import CONTRACT, Var
from config.postgres import password as secret_password

REPO_ROOT = Path(__file__).resolve().parents[2]
ENV_EXAMPLE = REPO_ROOT / ".env.example"
REFERENCE_PAGE = REPO_ROOT / "docs" / "configuration.md"
SECTION = "config-reference"
SOURCE_WORDS = {"stack": "the stack", "default": "default", "user": "you (optional)"}


def _example_value(var: Var) -> str:
    if var.default is not None:
        return var.default
    return "" if " " in var.example else var.example


def _env_entry(var: Var) -> list[str]:
    notes = [note for note, on in (("required in production", var.production), ("secret", var.secret)) if on]
    lines = [f"# {var.description}" + (f" ({', '.join(notes)})" if notes else "")]
    if " " in var.example:
        lines.append(f"# {var.example}")
    lines.append(f"# {var.name}={_example_value(var)}")
    return lines


def env_example() -> str:
    """The text of .env.example: every variable, commented out, grouped as in the contract."""
    lines = [
        "# Generated from app/config/contract.py by `python -m config.reference` (from app/): do not edit.",
        "# Copy to .env and uncomment what you need; bin/dev reads it (the shell environment wins).",
        "# bin/dev already defaults DATABASE_URL, REDIS_URL, DJANGO_DEBUG=true and LOG_FORMAT=console.",
        "# Never put real credentials in a committed file.",
    ]
    group = None
    for var in CONTRACT:
        if var.group != group:
            group = var.group
            lines += ["", f"# --- {group} ---"]
        lines += _env_entry(var)
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _default_cell(var: Var) -> str:
    if var.default is None:
        return "—"
    return f"`{var.default}`" if var.default else "(empty)"


def markdown_section() -> str:
    """The body of the config-reference section of docs/configuration.md."""
    rows = [
        "Every variable the app reads, generated from `app/config/contract.py` (the one definition; "
        "`python -m config.reference` from `app/` regenerates this table and `.env.example`). "
        "*Production* marks the variables that must be set when `DJANGO_DEBUG` is off; a missing or "
        "invalid value stops every process before it serves, with one line per problem. *Secret* values "
        "reach ECS only through Secrets Manager and never appear in logs. *On AWS* says who sets it.",
        "",
        "| Variable | Type | Default | Production | Secret | On AWS | Description |",
        "|---|---|---|---|---|---|---|",
    ]
    for var in CONTRACT:
        kind = f"{var.kind}: {', '.join(var.choices)}" if var.choices else var.kind
        rows.append(
            f"| `{var.name}` | {_cell(kind)} | {_default_cell(var)} | {'required' if var.production else ''} "
            f"| {'yes' if var.secret else ''} | {SOURCE_WORDS[var.source]} | {_cell(var.description)} |"
        )
    rows += [
        "",
        f"Timings shared with the stack (`config/contract.py`): gunicorn `graceful_timeout` "
        f"{contract.WEB_GRACEFUL_TIMEOUT} s, `keepalive` {contract.WEB_KEEPALIVE} s, Celery soft shutdown "
        f"{contract.WORKER_SOFT_SHUTDOWN_TIMEOUT} s; probes `{contract.HEALTH_PATH}` (liveness) and "
        f"`{contract.READY_PATH}` (readiness).",
        "",
        "`DATABASE_SECRET_ARN`: the password is read from the secret when a connection opens (cached for "
        f"{secret_password.MAX_AGE / 60:g} minutes) and re-read once when the database refuses it, so RDS's managed rotation never needs the "
        "tasks replaced; it wins over `DATABASE_PASSWORD`, which wins over the URL's password. The process "
        "needs `secretsmanager:GetSecretValue` on the secret (and `kms:Decrypt` on its key); an unreadable "
        "secret makes `/readyz` report the database as failing, naming the variable and the secret.",
        "",
        "`DJANGO_HTTPS=false` (a stack without a domain serves plain HTTP): production mode without the HTTPS "
        "redirect, Secure cookies and HSTS, and one WARNING line at start. `manage.py check --deploy` then "
        "reports security.W004, W008, W012 and W016 (expected there; never set it false in production).",
    ]
    return "\n".join(rows)


def _markers() -> tuple[str, str]:
    return f"<!-- section:{SECTION} -->", f"<!-- /section:{SECTION} -->"


def page_section(text: str) -> str:
    """The current body of the section in the page's text."""
    start, end = _markers()
    return text.split(start, 1)[1].split(end, 1)[0].strip("\n")


def with_section(text: str, body: str) -> str:
    start, end = _markers()
    before, rest = text.split(start, 1)
    return f"{before}{start}\n{body}\n{end}{rest.split(end, 1)[1]}"


def main(argv: list[str]) -> int:
    page = REFERENCE_PAGE.read_text()
    stale = []
    if not ENV_EXAMPLE.exists() or ENV_EXAMPLE.read_text() != env_example():
        stale.append(ENV_EXAMPLE.name)
    if page_section(page) != markdown_section():
        stale.append(f"docs/{REFERENCE_PAGE.name} section {SECTION}")
    if "--check" in argv:
        for name in stale:
            print(f"reference: {name} does not match the contract; run python -m config.reference", file=sys.stderr)
        return 1 if stale else 0
    ENV_EXAMPLE.write_text(env_example())
    REFERENCE_PAGE.write_text(with_section(page, markdown_section()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
