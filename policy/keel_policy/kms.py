"""KMS customer key rule (KMS-01)."""

from __future__ import annotations

from keel_policy.documents import statements
from keel_policy.model import Finding, Resource, is_true, number
from keel_policy.registry import ALL, HIGH, Context, resource_rule


@resource_rule("KMS-01", "Customer keys rotate yearly, have a deletion window and an explicit key policy with no "
               "wildcard principal", "FSBP KMS.3, KMS.4 (CIS/NIST); AWSGuard cmk-backing-key-rotation-enabled; "
               "CKV_AWS_7, CKV_AWS_33, CKV2_AWS_64; PCP aws-kms-key-enable-key-rotation", ALL, HIGH, ("kms:Key",))
def key_hygiene(key: Resource, ctx: Context):
    if not is_true(key.props.get("enableKeyRotation")):
        yield Finding("enableKeyRotation is not true")
    if number(key.props.get("deletionWindowInDays")) is None:
        yield Finding("deletionWindowInDays is not set")
    policy = statements(key.props.get("policy"))
    if not policy:
        yield Finding("no key policy: the default grants the whole account")
    if any(st.effect == "Allow" and st.any_principal and not st.conditions for st in policy):
        yield Finding("the key policy allows Principal * without a condition")
