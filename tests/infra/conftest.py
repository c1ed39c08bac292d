"""Shared fixtures: each committed stack file evaluated once under Pulumi mocks (keel.evaluate)."""

from __future__ import annotations

import pytest
from keel.evaluate import evaluate_stack

STACKS = ("dev", "staging", "prod")
_cache: dict[str, object] = {}


def evaluated(stack: str):
    """The evaluation of a committed stack file (cached: the program is deterministic)."""
    if stack not in _cache:
        _cache[stack] = evaluate_stack(stack)
    return _cache[stack]


@pytest.fixture(params=STACKS)
def stack(request):
    return evaluated(request.param)


@pytest.fixture
def dev():
    return evaluated("dev")


@pytest.fixture
def staging():
    return evaluated("staging")


@pytest.fixture
def prod():
    return evaluated("prod")
