"""7. Bad input: malformed environments and stack configs, each run through the real command.

Each row records the exit code, the first line the command printed on stderr, how many lines
it printed, and whether a Python traceback appeared (it never should).
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass

from bench import harness, ourapp, targets

TIMEOUT = 60


@dataclass(frozen=True)
class EnvCase:
    name: str
    process: str  # Procfile process type whose command is run
    change: dict[str, str | None]  # None removes the variable


ENV_CASES = (
    EnvCase("secret key missing", "web", {"DJANGO_SECRET_KEY": None}),
    EnvCase("secret key too short", "web", {"DJANGO_SECRET_KEY": "short"}),
    EnvCase("allowed hosts missing", "web", {"DJANGO_ALLOWED_HOSTS": None}),
    EnvCase("database URL with a MySQL scheme", "web", {"DATABASE_URL": "mysql://app@127.0.0.1:3306/app"}),
    EnvCase("database URL without a database name", "release", {"DATABASE_URL": "postgres://app@127.0.0.1:5432"}),
    EnvCase("Redis URL with a named database", "worker", {"REDIS_URL": "redis://127.0.0.1:6379/cache"}),
    EnvCase("broker URL with an http scheme", "worker", {"CELERY_BROKER_URL": "http://127.0.0.1:6379/1"}),
    EnvCase("PORT not a number", "web", {"PORT": "eighty"}),
    EnvCase("WEB_CONCURRENCY zero", "web", {"WEB_CONCURRENCY": "0"}),
    EnvCase("DJANGO_DEBUG not a boolean", "web", {"DJANGO_DEBUG": "maybe"}),
    EnvCase("LOG_LEVEL unknown", "worker", {"LOG_LEVEL": "LOUD"}),
    EnvCase("visibility timeout below minimum", "worker", {"CELERY_VISIBILITY_TIMEOUT": "5"}),
    EnvCase("media bucket missing", "web", {"AWS_STORAGE_BUCKET_NAME": None}),
    EnvCase("two problems at once", "web", {"DJANGO_SECRET_KEY": None, "PORT": "-1"}),
)


def summarise_output(stderr: str, stdout: str) -> dict:
    text = stderr.strip() or stdout.strip()
    lines = [line for line in text.splitlines() if line.strip()]
    # A header line, then one indented line per problem: the problems are the message.
    problems = [line.strip() for line in lines if line.startswith((" ", "\t"))]
    return {
        "first_line": lines[0] if lines else "",
        "message": " / ".join(problems) if problems else (lines[0] if lines else ""),
        "lines": len(lines),
        "traceback": "Traceback (most recent call last)" in stderr + stdout,
        "output": "\n".join(lines[:6]),
    }


def run_rejected(argv: list[str], env: dict[str, str], cwd) -> dict:
    """Run a command that should refuse its input; kill it if it starts anyway."""
    try:
        out = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT,
                             start_new_session=True)
    except subprocess.TimeoutExpired as exc:
        return {"exit_code": None, "first_line": "(still running: the bad input was not refused)",
                "lines": 0, "traceback": False, "output": str(exc.stderr or "")[:500]}
    return {"exit_code": out.returncode, **summarise_output(out.stderr, out.stdout)}


def env_case(case: EnvCase, good_env: dict[str, str]) -> dict:
    env = dict(good_env) | {"PORT": str(harness.free_port())}
    for name, value in case.change.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    argv = targets.venv_argv(targets.procfile()[case.process])
    shown = {k: ("(unset)" if v is None else v) for k, v in case.change.items()}
    return {"case": case.name, "process": case.process, "change": shown,
            **run_rejected(argv, env, targets.APP)}


@dataclass(frozen=True)
class StackCase:
    name: str
    stack: str
    overrides: dict[str, object]


STACK_CASES = (
    StackCase("web CPU not a Fargate size", "staging", {"keel:web": {"cpu": 300, "memory": 1024}}),
    StackCase("memory not allowed for the CPU", "staging", {"keel:web": {"cpu": 256, "memory": 4096}}),
    StackCase("web count negative", "staging", {"keel:web": {"count": -1}}),
    StackCase("log retention not a CloudWatch value", "staging", {"keel:logRetentionDays": 10}),
    StackCase("region malformed", "staging", {"aws:region": "europe"}),
    StackCase("domain malformed", "prod", {"keel:domain": "not a domain"}),
    StackCase("no such stack", "nosuch", {}),
)


def stack_case(case: StackCase) -> dict:
    """`keel check --stack S --set KEY=VALUE`: the program evaluated under mocks with one bad value."""
    argv = [str(targets.VENV_BIN / "keel"), "check", "--stack", case.stack]
    for key, value in case.overrides.items():
        argv += ["--set", f"{key}={value if isinstance(value, str) else json.dumps(value)}"]
    shown = " ".join(f"--set {a}" for a in argv[argv.index("--set") + 1::2]) if "--set" in argv else ""
    return {"case": case.name, "stack": case.stack, "command": f"keel check --stack {case.stack} {shown}".strip(),
            **run_rejected(argv, targets.base_env(), harness.REPO)}


def run(services: ourapp.Services) -> dict:
    good = ourapp.env(services)
    return {
        "environments": [env_case(case, good) for case in ENV_CASES],
        "stack_configs": [stack_case(case) for case in STACK_CASES],
    }
