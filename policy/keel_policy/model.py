"""The plain data every rule reads: resources, the stack they form, and what a rule reports.

Rules never see pulumi-policy's argument objects or the mock harness's records directly:
both are converted into ``Resource`` here, so one rule function serves the policy pack,
``keel check`` and the tests.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

# Pulumi marks secret values with this signature key; under mocks they arrive still wrapped.
SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
# What the Pulumi engine sends for a value that is not known yet (during a preview).
UNKNOWN_SENTINELS = frozenset({
    "1c4a061d-8072-4f0a-a4cb-0ff528b18fe7", "3eeb2bf0-c639-47a8-9e75-3b44932eb421",
    "04da6b54-80e4-46f7-96ec-b56ff0331ba9", "6a19a0b0-7e62-4c92-b797-7f8e31da9cc2",
    "030794c1-ac77-496b-92df-f27374a8bd58", "e48ece36-62e2-4504-bad9-02848725956a",
    "dd056dcd-154b-4c76-9bd3-c8f88648b5ff",
})


class UnknownValue(Exception):
    """A rule needed a value the engine does not know yet: the rule cannot be decided in this preview."""

    def __init__(self, sentinel: str) -> None:
        super().__init__("a value the rule needs is not known until the resources exist")
        self.sentinel = sentinel


def unwrap(value: Any) -> Any:
    """The plain value inside any Pulumi secret wrapper (recursively), as rules compare plain data."""
    if isinstance(value, Mapping):
        if value.get(SECRET_SIG_KEY) == SECRET_SIG:
            return unwrap(value.get("value"))
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [unwrap(v) for v in value]
    # pulumi_policy.Secret keeps the plaintext in .value
    if type(value).__name__ == "Secret" and hasattr(value, "value"):
        return unwrap(value.value)
    return value


@cache
def kind(type_token: str) -> str:
    """A short, alias-free name for a Pulumi type: "aws:alb/listener:Listener" -> "lb:Listener".

    The aws.alb module and the V2 S3 resources are aliases of aws.lb and the plain S3 ones.
    """
    parts = type_token.split(":")
    if len(parts) != 3:
        return type_token
    module = parts[1].split("/")[0]
    module = "lb" if module == "alb" else module
    name = parts[2][:-2] if parts[2].endswith("V2") else parts[2]
    return f"{module}:{name}"


@dataclass(frozen=True)
class Resource:
    """One resource: its type, name, inputs (camelCase, secrets unwrapped) and identities."""

    type: str
    name: str
    props: Mapping[str, Any]
    urn: str = ""
    id: str | None = None
    arn: str | None = None
    # For each top-level property, the URNs of the resources its value came from (policy pack only:
    # during a preview ids are unknown, so references are joined through these instead).
    prop_deps: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return kind(self.type)

    @property
    def label(self) -> str:
        """How reports name the resource: its Pulumi name and short type."""
        return f"{self.name} ({self.kind})"

    def get(self, *path: str, default: Any = None) -> Any:
        """The value at a nested property path, or ``default`` when any step is absent."""
        value: Any = self.props
        for key in path:
            if not isinstance(value, Mapping) or key not in value:
                return default
            value = value[key]
        return default if value is None else value

    def identities(self) -> set[str]:
        """Every string another resource may use to refer to this one (id, ARN, name, URN)."""
        found = {self.id, self.arn, self.urn, self.props.get("name"), self.props.get("bucket"),
                 self.props.get("arn"), self.props.get("id")}
        return {v for v in found if isinstance(v, str) and v}


@dataclass(frozen=True)
class Finding:
    """One violation a rule found. ``exception`` names a documented exception that covers it."""

    message: str
    resource: Resource | None = None
    exception: str | None = None


@dataclass
class Stack:
    """Every resource of one stack, with the joins cross-resource rules need."""

    resources: list[Resource]

    def __post_init__(self) -> None:
        self._by_kind: dict[str, list[Resource]] = {}
        for r in self.resources:
            self._by_kind.setdefault(r.kind, []).append(r)

    def of(self, *kinds: str) -> list[Resource]:
        """The resources of the given kinds, in stack order."""
        if len(kinds) == 1:
            return list(self._by_kind.get(kinds[0], ()))
        return [r for r in self.resources if r.kind in kinds]

    def referenced(self, source: Resource, prop: str, value: Any, *kinds: str) -> list[Resource]:
        """The resources of ``kinds`` that ``value`` (found under top-level ``prop`` of source) names."""
        values = {v for v in as_list(value) if isinstance(v, str)}
        deps = set(source.prop_deps.get(prop, ()))
        return [r for r in self.of(*kinds) if (values & r.identities()) or (r.urn and r.urn in deps)]

    def refers(self, source: Resource, prop: str, target: Resource) -> bool:
        """Whether the top-level ``prop`` of ``source`` (at any depth) names ``target``."""
        if target.urn and target.urn in source.prop_deps.get(prop, ()):
            return True
        return bool(set(strings(source.props.get(prop))) & target.identities())

    def pointing_at(self, target: Resource, prop: str, *kinds: str) -> list[Resource]:
        """The resources of ``kinds`` whose ``prop`` names ``target``."""
        return [r for r in self.of(*kinds) if self.refers(r, prop, target)]


def as_list(value: Any) -> list:
    """A list from a list, a single value, or nothing."""
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return list(value)
    return [value]


def strings(value: Any) -> Iterable[str]:
    """Every string inside a nested structure."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from strings(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from strings(v)


def is_true(value: Any) -> bool:
    """True for a real true or the string "true" (some providers pass booleans as strings)."""
    return value is True or (isinstance(value, str) and value.lower() == "true")


def is_false(value: Any) -> bool:
    return value is False or (isinstance(value, str) and value.lower() == "false")


def number(value: Any) -> float | None:
    """A number from a float, an int or a numeric string (mocks send numbers as floats)."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def parse_json(value: Any) -> Any:
    """A JSON document given as a string, or the value itself if it is already parsed.

    Raises UnknownValue for a document the engine does not know yet (a preview): deciding a rule on
    an empty document would pass it silently."""
    if isinstance(value, str) and value in UNKNOWN_SENTINELS:
        raise UnknownValue(value)
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


def from_record(record: Any) -> Resource:
    """A Resource from a mock-harness record (type, name, inputs, id, arn, urn)."""
    return Resource(
        type=record.type, name=record.name, props=unwrap(dict(record.inputs)),
        urn=getattr(record, "urn", "") or "", id=getattr(record, "id", None), arn=getattr(record, "arn", None),
    )
