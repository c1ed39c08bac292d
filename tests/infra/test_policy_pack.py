"""Every committed stack passes the project's policy pack (policy/keel_policy) with no mandatory failure.

Prod must pass the prod-scoped rules too, with warnings only for the pack's documented exceptions
(and advisory rules).
"""

from __future__ import annotations

import pytest
from keel_policy.engine import FAIL, WARN, evaluate
from keel_policy.model import from_record
from keel_policy.registry import Context

from tests.infra.conftest import evaluated


def results(stack: str):
    ev = evaluated(stack)
    return evaluate([from_record(r) for r in ev.resources if r.custom], Context(stack=stack, preset=stack))


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_no_mandatory_policy_fails(stack):
    failed = [f"{r.rule} {r.resource}: {r.message}" for r in results(stack) if r.status == FAIL]
    assert failed == []


def test_prod_warnings_are_documented_exceptions_or_advisory():
    open_warnings = [f"{r.rule} {r.resource}: {r.message}" for r in results("prod")
                     if r.status == WARN and "documented exception" not in r.message and r.scope != "Opt"]
    assert open_warnings == []
