"""Start the Keel policy pack. The rules are in keel_policy; see docs/policy-rules.md.

Prod-scoped rules are mandatory when the stack being deployed is prod: named prod, or built from
the prod preset (keel:preset). The Pulumi CLI gives the analyzer the stack name in PULUMI_STACK
and the stack's config in PULUMI_CONFIG (pulumi_policy configures its runtime from the same
variables). KEEL_POLICY_STACK overrides the name, e.g. to hold a stack to prod's rules.
"""

import os

import pulumi
from keel_policy.pack import policies
from keel_policy.registry import Context
from pulumi_policy import PolicyPack

stack = os.environ.get("KEEL_POLICY_STACK") or os.environ.get("PULUMI_STACK") or pulumi.get_stack()
preset = pulumi.runtime.get_config_env().get("keel:preset")
PolicyPack(name="keel", policies=policies(Context(stack=stack, preset=preset)))
