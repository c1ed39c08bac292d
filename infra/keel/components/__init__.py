"""One ComponentResource per AWS concept, each with typed (dataclass) arguments.

``infra/__main__.py`` wires them together; data flows one way: stack config -> components ->
environment contract -> task definitions.
"""

from __future__ import annotations

import json

import pulumi

PACKAGE = "keel"


def child(parent: pulumi.Resource, **kwargs) -> pulumi.ResourceOptions:
    """Options for a resource owned by a component."""
    return pulumi.ResourceOptions(parent=parent, **kwargs)


def dependencies(opts: pulumi.ResourceOptions | None) -> list[pulumi.Resource]:
    """What a component was told to wait for, as a list for its children's ``depends_on``.

    The engine does not pass a component's ``depends_on`` on to its children; a component whose
    resources must wait hands this to them itself.
    """
    depends_on = opts.depends_on if opts is not None else None
    if depends_on is None:
        return []
    return list(depends_on) if isinstance(depends_on, list | tuple) else [depends_on]


def named_tags(tags: dict[str, str], name: str) -> dict[str, str]:
    """The common tags plus a Name tag, so the console lists resources readably."""
    return {**tags, "Name": name}


def policy_json(statements: list[dict]) -> str:
    """An IAM policy document with these statements."""
    return json.dumps({"Version": "2012-10-17", "Statement": statements})
