"""IAM-style policy documents (role, bucket, repository and key policies) as plain statements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from keel_policy.model import as_list, parse_json


@dataclass(frozen=True)
class Statement:
    effect: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    principals: tuple[str, ...]  # "*" or "Type:value", e.g. "Service:ecs-tasks.amazonaws.com"
    conditions: dict
    not_actions: bool = False

    @property
    def any_principal(self) -> bool:
        return "*" in self.principals or "AWS:*" in self.principals


def _principals(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    found = []
    for kind, names in value.items():
        found += [f"{kind}:{n}" for n in as_list(names)]
    return tuple(found)


def statements(document: Any) -> list[Statement]:
    """The statements of a policy document given as JSON text or parsed data."""
    doc = parse_json(document)
    if not isinstance(doc, dict):
        return []
    found = []
    for st in as_list(doc.get("Statement")):
        if not isinstance(st, dict):
            continue
        actions = st.get("Action") if "Action" in st else st.get("NotAction")
        found.append(Statement(
            effect=str(st.get("Effect", "")), actions=tuple(str(a) for a in as_list(actions)),
            resources=tuple(str(r) for r in as_list(st.get("Resource", st.get("NotResource")))),
            principals=_principals(st.get("Principal")), conditions=st.get("Condition") or {},
            not_actions="NotAction" in st,
        ))
    return found
