"""A team's own variables: read without touching the contract, or validated by one line added to it.

Each case runs a real process from app/ with Django set up from the settings, as ``bin/manage shell``
does, and reads what the team would read.
"""

from __future__ import annotations

import json
import re
import sys

from .helpers import REPO_ROOT, app_env, json_lines, run_app

EX_CONFIG = 78
DSN = "https://3f9a1c0d2b7e4a5f@o123.ingest.sentry.io/456"


SETUP = "import django, json, os\nos.environ['DJANGO_SETTINGS_MODULE'] = 'config.settings'\ndjango.setup()\n"


def in_app(code: str, before_setup: str = "", **changes: str | None):
    """Run ``code`` after django.setup() with config.settings, in the test environment plus ``changes``."""
    return run_app([sys.executable, "-c", before_setup + SETUP + code], app_env(**changes))


READ = """
from config.env import env
print(json.dumps({
    "dsn": env("SENTRY_DSN", default=None, cast="url"),
    "environment": env("SENTRY_ENVIRONMENT", default="production"),
    "rate": env("SENTRY_TRACES_PER_MILLE", default=0, cast="int"),
    "enabled": env("FEATURE_BETA", default=False, cast="bool"),
    "hosts": env("PARTNER_HOSTS", default=[], cast="list"),
    "unset": env("NOT_SET_ANYWHERE", default="fallback"),
}))
"""


def test_a_variable_outside_the_contract_is_read_with_env_and_cast():
    result = in_app(READ, SENTRY_DSN=DSN, SENTRY_ENVIRONMENT="staging",
                    SENTRY_TRACES_PER_MILLE="25", FEATURE_BETA="yes", PARTNER_HOSTS="a.example.com, b.example.com")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == {
        "dsn": DSN, "environment": "staging", "rate": 25, "enabled": True,
        "hosts": ["a.example.com", "b.example.com"], "unset": "fallback",
    }


def test_unset_or_empty_gives_the_default():
    result = in_app(READ, SENTRY_DSN="", SENTRY_ENVIRONMENT=None, FEATURE_BETA=None)
    values = json.loads(result.stdout.splitlines()[-1])
    assert (values["dsn"], values["environment"], values["enabled"]) == (None, "production", False)


def test_a_bad_value_stops_the_process_with_one_line_naming_it():
    result = in_app("from config.env import env\nenv('SENTRY_TRACES_PER_MILLE', cast='int')\nprint('served')",
                    SENTRY_TRACES_PER_MILLE="lots")
    assert result.returncode == EX_CONFIG and "served" not in result.stdout
    (line,) = [line.strip() for line in result.stderr.splitlines() if line.startswith("  ")]
    assert line.startswith("SENTRY_TRACES_PER_MILLE: 'lots' is not a whole number.")
    assert "Example: SENTRY_TRACES_PER_MILLE=42" in line
    assert "Traceback" not in result.stderr


def test_a_credential_by_its_name_is_never_echoed_and_is_redacted_from_logs():
    bad = in_app("from config.env import env\nenv('STRIPE_API_KEY', cast='url')", STRIPE_API_KEY="sk_live_9f8e7d6c5b")
    assert bad.returncode == EX_CONFIG and "sk_live_9f8e7d6c5b" not in bad.stderr
    assert "STRIPE_API_KEY: (value hidden: secret)" in bad.stderr

    logged = in_app("import logging\nfrom config.env import env\n"
                    "key = env('STRIPE_API_KEY')\nlogging.getLogger('billing').warning('charging with %s', key)\n"
                    "dsn = env('SENTRY_DSN')\nlogging.getLogger('errors').warning('reporting to %s', dsn)",
                    STRIPE_API_KEY="sk_live_9f8e7d6c5b", SENTRY_DSN=DSN)
    assert logged.returncode == 0, logged.stderr
    messages = [line["message"] for line in json_lines(logged.stdout) if line["logger"] in ("billing", "errors")]
    assert messages == ["charging with ***", "reporting to ***"]


def _documented_contract_line() -> str:
    """The one Var docs/configuration.md tells a team to add to the contract for SENTRY_DSN."""
    page = (REPO_ROOT / "docs" / "configuration.md").read_text()
    return re.search(r'^\s+(Var\("SENTRY_DSN".*?\)),$', page, flags=re.M | re.S).group(1)


ADD_TO_CONTRACT = """
import config.contract as c
from config.contract import Var
c.CONTRACT = c.CONTRACT + ({line},)
c.BY_NAME = {{var.name: var for var in c.CONTRACT}}
"""


def test_one_line_in_the_contract_validates_it_at_start_and_env_returns_the_checked_value():
    # The Var goes into the contract before the settings validate the environment, as if the file had it.
    contract_line = ADD_TO_CONTRACT.format(line=_documented_contract_line())
    read = "from config.env import env\nprint(json.dumps(env('SENTRY_DSN', default=None)))"

    ok = in_app(read, contract_line, SENTRY_DSN=DSN)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout.splitlines()[-1]) == DSN
    unset = in_app(read, contract_line, SENTRY_DSN=None)
    assert json.loads(unset.stdout.splitlines()[-1]) == ""  # the contract's default now applies

    # A plain-HTTP DSN now fails at start with every other problem, with the contract's description.
    bad = in_app(read, contract_line, SENTRY_DSN="http://k@sentry.internal/1", PORT="eighty")
    assert bad.returncode == EX_CONFIG
    lines = [line.strip() for line in bad.stderr.splitlines() if line.startswith("  ")]
    assert [line.split(":", 1)[0] for line in lines] == ["PORT", "SENTRY_DSN"]
    assert "scheme 'http' is not one of https. Sentry project DSN" in lines[1]
    assert "k@sentry.internal" not in bad.stderr
