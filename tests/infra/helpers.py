"""Small helpers for reading resource inputs in the infra tests."""

from __future__ import annotations

import json


def policy(document) -> dict:
    """A policy document input (JSON string or dict) as a dict."""
    return json.loads(document) if isinstance(document, str) else document


def statements(document) -> list[dict]:
    found = policy(document)["Statement"]
    return found if isinstance(found, list) else [found]


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]
