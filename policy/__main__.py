"""Start the Keel policy pack. The rules are in keel_policy; see docs/policy-rules.md.

Prod-scoped rules are mandatory only when the stack being deployed is prod. The Pulumi CLI
passes the stack name to the analyzer in PULUMI_STACK (pulumi_policy reads the same variable to
configure its runtime); KEEL_POLICY_STACK overrides it, e.g. to hold staging to prod's rules.
"""

import os

import pulumi
from keel_policy.pack import policies
from keel_policy.registry import Context
from pulumi_policy import PolicyPack

stack = os.environ.get("KEEL_POLICY_STACK") or os.environ.get("PULUMI_STACK") or pulumi.get_stack()
PolicyPack(name="keel", policies=policies(Context(stack=stack)))
