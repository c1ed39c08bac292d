"""The app's environment contract, loaded from ``app/config/contract.py`` (its single definition).

The contract module imports only the standard library, so it is loaded by file path: the Pulumi
program never imports Django or the app package. Everything here re-exports that module, plus a
value check for the plain variables a user may add per stack (``keel:env``).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from urllib.parse import urlsplit

CONTRACT_PATH = Path(__file__).resolve().parents[2] / "app" / "config" / "contract.py"
MODULE_NAME = "keel._app_contract"


def _load() -> ModuleType:
    if MODULE_NAME in sys.modules:
        return sys.modules[MODULE_NAME]
    spec = importlib.util.spec_from_file_location(MODULE_NAME, CONTRACT_PATH)
    module = importlib.util.module_from_spec(spec)
    # Registered before exec so the dataclasses in it can resolve their module.
    sys.modules[MODULE_NAME] = module
    spec.loader.exec_module(module)
    return module


_contract = _load()
CONTRACT = _contract.CONTRACT
BY_NAME = _contract.BY_NAME
Var = _contract.Var
WEB_GRACEFUL_TIMEOUT: int = _contract.WEB_GRACEFUL_TIMEOUT
WORKER_SOFT_SHUTDOWN_TIMEOUT: int = _contract.WORKER_SOFT_SHUTDOWN_TIMEOUT
HEALTH_PATH: str = _contract.HEALTH_PATH
READY_PATH: str = _contract.READY_PATH
production_required = _contract.production_required
secret_names = _contract.secret_names
broker_database = _contract.broker_database
CREDENTIAL_NAME = _contract.CREDENTIAL_NAME  # names the app treats as secret (SENTRY_DSN, *_TOKEN...)
PORT = int(BY_NAME["PORT"].default)
BOOL_WORDS = ("true", "false", "1", "0", "yes", "no", "on", "off")


def check_value(var, raw: str) -> str | None:
    """Why ``raw`` is not a valid value for ``var`` (the allowed values), or None when it is."""
    if var.kind == "bool" and raw.strip().lower() not in BOOL_WORDS:
        return "allowed true or false"
    if var.kind == "int":
        try:
            number = int(raw)
        except ValueError:
            return f"allowed a whole number (e.g. {var.example})"
        if var.minimum is not None and number < var.minimum:
            return f"allowed {var.minimum} or more"
        if var.maximum is not None and number > var.maximum:
            return f"allowed {var.maximum} or less"
    if var.kind == "choice" and raw not in var.choices:
        return "allowed one of " + ", ".join(var.choices)
    if var.kind == "url" and raw:
        parts = urlsplit(raw)
        if parts.scheme not in var.schemes or not parts.hostname:
            return "allowed a URL with scheme " + " or ".join(var.schemes)
    return None
