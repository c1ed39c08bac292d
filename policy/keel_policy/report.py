"""Render evaluation results as the text table and the JSON document ``keel check`` prints."""

from __future__ import annotations

import json

from keel_policy.engine import FAIL, NOT_APPLICABLE, PASS, WARN, Result
from keel_policy.exceptions import EXCEPTIONS

COLUMNS = (("rule", 12), ("ids", 34), ("resource", 40), ("status", 6), ("message", 0))


def _cell(text: str, width: int) -> str:
    if not width:
        return text
    return text if len(text) <= width else text[: width - 1] + "…"


def table(results: list[Result], stack: str) -> str:
    """A fixed-width table: one row per finding, one PASS or N/A row per clean rule, then a summary."""
    header = "  ".join(_cell(name.upper(), w).ljust(w) for name, w in COLUMNS).rstrip()
    lines = [header, "-" * len(header)]
    for r in results:
        values = {"rule": r.rule, "ids": r.ids, "resource": r.resource, "status": r.status, "message": r.message}
        lines.append("  ".join(_cell(values[name], w).ljust(w) for name, w in COLUMNS).rstrip())
    lines += ["", summary(results, stack)]
    return "\n".join(lines)


def counts(results: list[Result]) -> dict[str, int]:
    """Rules per status (a rule with any failure counts as FAIL, else any warning as WARN)."""
    per_rule: dict[str, str] = {}
    order = {FAIL: 3, WARN: 2, PASS: 1, NOT_APPLICABLE: 0}
    for r in results:
        if order[r.status] >= order.get(per_rule.get(r.rule, NOT_APPLICABLE), 0):
            per_rule[r.rule] = r.status
    return {status: sum(1 for s in per_rule.values() if s == status) for status in (PASS, FAIL, WARN, NOT_APPLICABLE)}


def summary(results: list[Result], stack: str) -> str:
    c = counts(results)
    verdict = "FAILED: mandatory rules are violated" if c[FAIL] else "passed every mandatory rule"
    return (f"stack {stack}: {verdict} ({sum(c.values())} rules: {c[PASS]} pass, {c[FAIL]} fail, "
            f"{c[WARN]} warn, {c[NOT_APPLICABLE]} not applicable). Documented exceptions: docs/policy-rules.md")


def as_json(results: list[Result], stack: str) -> str:
    return json.dumps({
        "stack": stack,
        "passed": not any(r.status == FAIL for r in results),
        "counts": counts(results),
        "results": [r.as_dict() for r in results],
        "exceptions": [{"key": e.key, "waives": e.waives, "reason": e.reason} for e in EXCEPTIONS],
    }, indent=2)
