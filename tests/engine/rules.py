"""How the Pulumi engine starts the processes of this stack, written down once, each rule with the file
of pulumi/pulumi it is read from (the CLI cannot run here; these rules are what it would do).

Three processes run our code during `pulumi preview` / `pulumi up`:

* the Python language host runs the program (``main:`` of Pulumi.yaml);
* the Python dynamic-provider plugin serves the release gate and the deploy check;
* the policy pack (``--policy-pack policy``) runs as an analyzer plugin through the language host.

Each ``*_launch`` function returns the command line, environment and working directory the engine
would use, or raises ``LaunchError`` with the message the real launcher prints. Tests start the
returned command and talk to it over gRPC as the engine does (tests/engine/test_*.py).

Sources (pulumi/pulumi, read through its git tree; no code copied):

ENGINE_PWD        pkg/engine/project.go (getPwdMain) and pkg/engine/deployment.go (ProjectInfoContext):
                  the plugin context's working directory is the program directory, root/main when
                  ``main:`` names a directory; the project root stays the directory of Pulumi.yaml.
PLUGIN_ENV        pkg/resource/plugin/provider_plugin.go (NewProvider): every runtime option of
                  Pulumi.yaml reaches a resource plugin unchanged as PULUMI_RUNTIME_<OPTION IN UPPER
                  CASE>, plus PULUMI_PROJECT and PULUMI_CONFIG (the plugin package's config as JSON);
                  pkg/resource/plugin/plugin.go (ExecPlugin): started in that pwd with the engine's
                  environment plus those, the engine's address as first argument.
DYNAMIC_LAUNCHER  sdk/python/dist/pulumi-resource-pulumi-python (the plugin for `pulumi-python`):
                  without PULUMI_RUNTIME_VIRTUALENV, toolchain uv means ".venv" and poetry means
                  `poetry env info --path`; a trailing slash is dropped; a relative value is joined to
                  the launcher's own working directory; then VENV/bin/python must be a file, else it
                  prints why and exits 1; PATH gets VENV/bin first, PYTHONHOME is unset and it runs
                  `VENV/bin/python -u -m pulumi.dynamic ARGS`. Without a virtualenv it runs
                  `${PULUMI_PYTHON_CMD:-python3} -u -m pulumi.dynamic ARGS`.
PY_OPTIONS        sdk/python/cmd/pulumi-language-python/main.go (parseOptions): ``virtualenv`` and
                  ``toolchain`` (pip, poetry, uv; anything else is an error) from the runtime options.
VENV_PATH         sdk/python/toolchain/pip.go (resolveVirtualEnvironmentPath) and toolchain.go
                  (ResolveToolchain): a relative virtualenv is joined to the ROOT directory given to the
                  language host; with no toolchain set (Auto) a uv.lock found in the program directory
                  or any parent selects uv (which runs `uv sync --inexact` before every command,
                  toolchain/uv.go Command), a poetry.lock selects poetry, otherwise pip.
ACTIVATE          sdk/python/toolchain/toolchain.go (ActivateVirtualEnv): PATH gets VENV/bin first,
                  VIRTUAL_ENV is set, PYTHONHOME removed.
PROGRAM_RUN       sdk/python/cmd/pulumi-language-python/main.go (Run, constructArguments): ROOT is the
                  project root, the program is run as `VENV/bin/python pulumi-language-python-exec
                  --monitor M --engine E --project P --root_directory ROOT --stack S --pwd PWD
                  --dry_run true|false --parallel N [--organization O] ENTRYPOINT`, where PWD is the
                  program directory and ENTRYPOINT "." for a directory; PULUMI_CONFIG and
                  PULUMI_CONFIG_SECRET_KEYS carry the stack config. The exec script
                  (sdk/python/cmd/pulumi-language-python-exec) configures the SDK from those, changes
                  to PWD and runs ENTRYPOINT with runpy inside the stack resource.
ANALYZER          pkg/resource/plugin/analyzer_plugin.go (NewPolicyAnalyzer) and plugin.go (ExecPlugin):
                  a policy pack directory with PulumiPolicy.yaml is run by its runtime's language host
                  (RunPlugin) with ROOT = PROGRAM DIRECTORY = the absolute pack directory and the
                  pack's own runtime options; sdk/python/cmd/pulumi-language-python/main.go
                  (RunPlugin): for an analyzer no default virtualenv is added, the command is
                  `VENV/bin/python -u -m pulumi.policy ENGINE_ADDRESS PACK_DIR` and it runs in PACK_DIR;
                  the host first waits for the engine's ConfigureStack call (through its policy proxy)
                  and starts the pack with PULUMI_ORGANIZATION, PULUMI_PROJECT, PULUMI_STACK,
                  PULUMI_DRY_RUN and PULUMI_CONFIG (the stack config as JSON) in its environment.
INSTALL           sdk/python/cmd/pulumi-language-python/main.go (InstallDependencies) and
                  sdk/python/toolchain/pip.go (InstallDependencies): `pulumi install` (and Pulumi
                  Deployments' dependency step) creates the virtualenv at ROOT/virtualenv and installs
                  PROGRAM DIRECTORY/requirements.txt into it; without that file it installs nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
TOOLCHAINS = ("pip", "poetry", "uv")
# Stands in for pulumi-language-python-exec, which ships with the CLI, not the SDK (PROGRAM_RUN).
LANGUAGE_EXEC = Path(__file__).with_name("language_exec.py")


class LaunchError(Exception):
    """The launcher refused to start the process; the message is what the engine would show."""


@dataclass(frozen=True)
class Launch:
    argv: tuple[str, ...]
    env: Mapping[str, str]
    cwd: Path


@dataclass(frozen=True)
class PythonProject:
    """A Pulumi.yaml or PulumiPolicy.yaml: where it is and its runtime options."""

    root: Path
    main: str | None
    options: Mapping[str, object] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> PythonProject:
        document = yaml.safe_load(path.read_text()) or {}
        runtime = document.get("runtime")
        options = runtime.get("options", {}) if isinstance(runtime, dict) else {}
        return cls(root=path.parent.resolve(), main=document.get("main"), options=options or {})


def program_directory(project: PythonProject) -> Path:
    """ENGINE_PWD: the directory the engine runs plugins in (root/main for a directory main)."""
    if not project.main:
        return project.root
    main = (project.root / project.main).resolve()
    return main if main.is_dir() else main.parent


def plugin_environment(project: PythonProject, base: Mapping[str, str]) -> dict[str, str]:
    """PLUGIN_ENV: the engine's environment plus the runtime options as PULUMI_RUNTIME_*."""
    env = dict(base)
    for key, value in project.options.items():
        env[f"PULUMI_RUNTIME_{key.upper()}"] = _go_format(value)
    env["PULUMI_PROJECT"] = str(yaml.safe_load((project.root / "Pulumi.yaml").read_text())["name"])
    env["PULUMI_CONFIG"] = "{}"  # no config in the pulumi-python namespace
    return env


def _go_format(value: object) -> str:
    """fmt.Sprintf("%v", v) for the scalar option values Pulumi.yaml holds."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def dynamic_provider_launch(cwd: Path, env: Mapping[str, str], args: Sequence[str] = ()) -> Launch:
    """DYNAMIC_LAUNCHER, rule by rule."""
    env = dict(env)
    virtualenv = env.get("PULUMI_RUNTIME_VIRTUALENV", "")
    if not virtualenv:
        toolchain = env.get("PULUMI_RUNTIME_TOOLCHAIN", "")
        if toolchain == "uv":
            virtualenv = ".venv"
        elif toolchain == "poetry":
            virtualenv = _poetry_env_path(cwd)
    if not virtualenv:
        python = env.get("PULUMI_PYTHON_CMD") or "python3"
        return Launch((python, "-u", "-m", "pulumi.dynamic", *args), env, cwd)
    virtualenv = virtualenv.removesuffix("/")
    if not virtualenv.startswith("/"):
        virtualenv = f"{cwd}/{virtualenv}"
    python = Path(virtualenv) / "bin" / "python"
    if not python.is_file():
        state = "doesn't appear to be a virtual environment" if Path(virtualenv).is_dir() else "doesn't exist"
        raise LaunchError(f"The 'virtualenv' option in Pulumi.yaml is set to \"{virtualenv}\", "
                          f"but \"{virtualenv}\" {state}.")
    env["PATH"] = f"{virtualenv}/bin:{env.get('PATH', '')}"
    env.pop("PYTHONHOME", None)
    return Launch((str(python), "-u", "-m", "pulumi.dynamic", *args), env, cwd)


def _poetry_env_path(cwd: Path) -> str:
    if not shutil.which("poetry"):
        return ""
    done = subprocess.run(["poetry", "env", "info", "--path"], cwd=cwd, capture_output=True, text=True)
    return done.stdout.strip()


def python_toolchain(options: Mapping[str, object], program_dir: Path) -> str:
    """PY_OPTIONS and VENV_PATH: the toolchain the language host uses."""
    chosen = options.get("toolchain")
    if chosen is not None:
        if chosen not in TOOLCHAINS:
            raise LaunchError(f"unsupported toolchain option: {chosen}")
        return str(chosen)
    for directory in (program_dir, *program_dir.parents):
        if (directory / "uv.lock").exists():
            return "uv"
        if (directory / "poetry.lock").exists():
            return "poetry"
    return "pip"


def virtualenv_path(root: Path, options: Mapping[str, object]) -> Path | None:
    """VENV_PATH: the virtualenv option joined to the language host's ROOT directory."""
    virtualenv = options.get("virtualenv")
    if not virtualenv:
        return None
    path = Path(str(virtualenv))
    return path if path.is_absolute() else root / path


def activated(env: Mapping[str, str], virtualenv: Path) -> dict[str, str]:
    """ACTIVATE."""
    result = {k: v for k, v in env.items() if k not in ("PYTHONHOME", "VIRTUAL_ENV")}
    result["PATH"] = f"{virtualenv}/bin:{env.get('PATH', '')}"
    result["VIRTUAL_ENV"] = str(virtualenv)
    return result


def _language_host_python(root: Path, program_dir: Path, options: Mapping[str, object]) -> Path:
    toolchain = python_toolchain(options, program_dir)
    if toolchain != "pip":
        raise LaunchError(f"toolchain {toolchain}: the language host would run `uv sync`/poetry first; "
                          "this project's virtualenv is built by bin/sync from the hash-pinned locks")
    virtualenv = virtualenv_path(root, options)
    if virtualenv is None:
        raise LaunchError("no virtualenv option: the language host would use whatever python3 is on PATH")
    python = virtualenv / "bin" / "python"
    if not python.is_file():
        raise LaunchError(f"'{virtualenv}' is not a virtualenv")  # pip.go ValidateVenv
    return python


def program_launch(project: PythonProject, *, stack: str, monitor: str, engine: str, config: Mapping[str, str],
                   secret_keys: Sequence[str] = (), dry_run: bool = True, parallel: int = 4,
                   base_env: Mapping[str, str] | None = None) -> Launch:
    """PROGRAM_RUN (with PY_OPTIONS, VENV_PATH and ACTIVATE) for `pulumi preview`/`up`."""
    pwd = program_directory(project)
    python = _language_host_python(project.root, pwd, project.options)
    name = yaml.safe_load((project.root / "Pulumi.yaml").read_text())["name"]
    argv = (str(python), str(LANGUAGE_EXEC), "--monitor", monitor, "--engine", engine, "--project", name,
            "--root_directory", str(project.root), "--stack", stack, "--pwd", str(pwd),
            "--dry_run", "true" if dry_run else "false", "--parallel", str(parallel), ".")
    env = activated(dict(base_env if base_env is not None else os.environ), python.parent.parent)
    env["PULUMI_CONFIG"] = json.dumps(dict(config))
    env["PULUMI_CONFIG_SECRET_KEYS"] = json.dumps(list(secret_keys))
    # The language host itself runs in the plugin context's pwd (pkg/host/host.go LanguageRuntime).
    return Launch(argv, env, pwd)


def policy_pack_launch(pack_dir: Path, engine: str, *, project: str, stack: str, config: Mapping[str, str],
                       dry_run: bool = True, base_env: Mapping[str, str] | None = None) -> Launch:
    """ANALYZER (with PY_OPTIONS, VENV_PATH and ACTIVATE) for `--policy-pack PACK_DIR`."""
    pack = PythonProject.load(pack_dir / "PulumiPolicy.yaml")
    python = _language_host_python(pack.root, pack.root, pack.options)
    env = activated(dict(base_env if base_env is not None else os.environ), python.parent.parent)
    env.update(PULUMI_PROJECT=project, PULUMI_STACK=stack, PULUMI_DRY_RUN="true" if dry_run else "false",
               PULUMI_CONFIG=json.dumps(dict(config)))
    return Launch((str(python), "-u", "-m", "pulumi.policy", engine, str(pack.root)), env, pack.root)


def install_requirements(project: PythonProject) -> Path:
    """INSTALL: the requirements file `pulumi install` reads."""
    return program_directory(project) / "requirements.txt"


def start_plugin(launch: Launch) -> tuple[subprocess.Popen, int]:
    """Start a plugin and read the port it serves on from its first stdout line, as the engine does
    (pkg/resource/plugin/plugin.go: the plugin prints its port)."""
    process = subprocess.Popen(list(launch.argv), cwd=launch.cwd, env=dict(launch.env), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    line = process.stdout.readline().strip()
    if not line.isdigit():
        process.kill()
        _, stderr = process.communicate(timeout=10)
        raise LaunchError(f"{launch.argv[0]} printed no port (exit {process.returncode}): {line}{stderr[-2000:]}")
    return process, int(line)
