"""The rule registry: what a rule is, where it applies, and how strictly.

Scopes (docs/policy-rules.md):
* ALL  - mandatory in every stack;
* PROD - mandatory when the stack is prod, advisory elsewhere;
* OPT  - advisory everywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from keel_policy.model import Finding, Resource, Stack

ALL, PROD, OPT = "All", "Prod", "Opt"
SCOPES = (ALL, PROD, OPT)
LOW, MEDIUM, HIGH, CRITICAL = "low", "medium", "high", "critical"
MANDATORY, ADVISORY = "mandatory", "advisory"

# Stack names or presets (keel:preset) whose Prod rules are mandatory, and those that must serve
# HTTPS (no plain-HTTP exception).
PROD_STACKS = ("prod",)
HTTPS_STACKS = ("staging", "prod")


@dataclass(frozen=True)
class Context:
    """What a rule may know about the stack besides its resources: its name and preset."""

    stack: str = ""
    preset: str | None = None

    @property
    def prod(self) -> bool:
        """A stack named prod (or prod-*) or built from the prod preset."""
        return self.stack in PROD_STACKS or self.stack.startswith("prod-") or self.preset in PROD_STACKS

    @property
    def https_required(self) -> bool:
        return self.prod or self.stack in HTTPS_STACKS or self.preset in HTTPS_STACKS


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    sources: str
    scope: str
    severity: str
    kinds: tuple[str, ...]
    check: Callable[..., Iterable[Finding]]
    per_resource: bool

    @property
    def description(self) -> str:
        """The one-line description the pack shows: what must hold, and the upstream IDs."""
        return f"{self.id}: {self.title} [{self.sources}]"

    def level(self, ctx: Context) -> str:
        if self.scope == ALL or (self.scope == PROD and ctx.prod):
            return MANDATORY
        return ADVISORY

    def findings(self, stack: Stack, ctx: Context) -> list[Finding]:
        """Every violation of this rule in the stack."""
        if self.per_resource:
            found: list[Finding] = []
            for resource in stack.of(*self.kinds):
                found.extend(self.check_resource(resource, ctx))
            return found
        return list(self.check(stack, ctx))

    def check_resource(self, resource: Resource, ctx: Context) -> list[Finding]:
        """Violations of a per-resource rule by one resource (each tied to that resource)."""
        return [
            f if f.resource is not None else Finding(f.message, resource, f.exception)
            for f in self.check(resource, ctx)
        ]


RULES: dict[str, Rule] = {}


def _register(rule: Rule) -> Rule:
    if rule.id in RULES:
        raise ValueError(f"rule {rule.id} is defined twice")
    if rule.scope not in SCOPES:
        raise ValueError(f"rule {rule.id}: scope {rule.scope!r} is not one of {SCOPES}")
    RULES[rule.id] = rule
    return rule


def resource_rule(id: str, title: str, sources: str, scope: str, severity: str, kinds: tuple[str, ...]):
    """Register ``check(resource, ctx) -> findings`` for every resource of ``kinds``."""
    def decorate(check):
        _register(Rule(id, title, sources, scope, severity, kinds, check, per_resource=True))
        return check
    return decorate


def stack_rule(id: str, title: str, sources: str, scope: str, severity: str, kinds: tuple[str, ...]):
    """Register ``check(stack, ctx) -> findings`` that needs the whole resource graph.

    ``kinds`` are the resources the rule is about: with none of them the rule is not applicable.
    """
    def decorate(check):
        _register(Rule(id, title, sources, scope, severity, kinds, check, per_resource=False))
        return check
    return decorate
