"""The prod web ACL: what it sends to WAF is valid for the API, and its rules do what they say."""

from __future__ import annotations

import re

import botocore.session
import pytest
from botocore.validate import ParamValidator
from keel.components import waf

WAFV2 = botocore.session.get_session().get_service_model("wafv2")
CREATE = WAFV2.operation_model("CreateWebACL").input_shape


def as_api(value, shape):
    """Pulumi's camelCase inputs in the WAFv2 API's spelling, member by member along botocore's
    model (names differ only in case: cloudwatchMetricsEnabled is CloudWatchMetricsEnabled)."""
    if shape.type_name == "structure":
        members = {name.lower(): name for name in shape.members}
        return {members.get(key.lower(), key): as_api(item, shape.members[members[key.lower()]])
                if key.lower() in members else item for key, item in value.items()}
    if shape.type_name == "list":
        return [as_api(item, shape.member) for item in value]
    if shape.type_name in ("integer", "long") and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


@pytest.fixture
def acl(prod):
    (record,) = prod.by_type("aws:wafv2/webAcl:WebAcl")
    return record.inputs


def rule(acl, name: str) -> dict:
    return next(r for r in acl["rules"] if r["name"] == name)


def test_the_web_acl_is_a_valid_create_web_acl_request(acl):
    request = {"Name": acl["name"], "Scope": acl["scope"], "DefaultAction": {"Allow": {}},
               "VisibilityConfig": as_api(acl["visibilityConfig"], CREATE.members["VisibilityConfig"]),
               "Rules": as_api(acl["rules"], CREATE.members["Rules"])}
    report = ParamValidator().validate(request, CREATE)
    assert not report.has_errors(), report.generate_report()
    assert len({r["priority"] for r in acl["rules"]}) == len(acl["rules"])  # WAF refuses duplicates


def test_sign_in_posts_are_rate_limited_per_client_address(acl):
    limit = rule(acl, "SignInRateLimit")
    statement = limit["statement"]["rateBasedStatement"]
    assert statement["aggregateKeyType"] == "IP"
    assert statement["limit"] >= 10 and statement["evaluationWindowSec"] in (60, 120, 300, 600)  # WAF's bounds
    assert limit["action"] == {"block": {"customResponse": {"responseCode": 429}}}
    method, path = statement["scopeDownStatement"]["andStatement"]["statements"]
    assert method["byteMatchStatement"]["searchString"] == "POST"
    pattern = re.compile(path["regexMatchStatement"]["regexString"])
    assert pattern.match("/accounts/login/") and pattern.match("/admin/login/")
    assert not pattern.match("/api/documents/") and not pattern.match("/accounts/login/../x")


def test_body_rules_only_count_on_the_upload_endpoints(acl):
    groups = {r["name"]: r for r in acl["rules"] if "managedRuleGroupStatement" in r["statement"]}
    counted = {o["name"] for g in groups.values()
               for o in g["statement"]["managedRuleGroupStatement"].get("ruleActionOverrides") or []}
    assert set(waf.COMMON_BODY_RULES + waf.KNOWN_BAD_BODY_RULES + waf.SIZE_RULES) == counted

    blocker = rule(acl, "BodyRulesOutsideUploads")
    assert blocker["action"] == {"block": {}}
    assert blocker["priority"] > max(g["priority"] for g in groups.values())  # labels exist by then
    labelled, not_upload = blocker["statement"]["andStatement"]["statements"]
    keys = {s["labelMatchStatement"]["key"] for s in labelled["orStatement"]["statements"]}
    assert len(keys) == len(waf.COMMON_BODY_RULES + waf.KNOWN_BAD_BODY_RULES)
    assert "awswaf:managed:aws:core-rule-set:CrossSiteScripting_Body" in keys
    upload = not_upload["notStatement"]["statement"]["andStatement"]["statements"]
    pattern = re.compile(upload[1]["regexMatchStatement"]["regexString"])
    assert pattern.match("/api/documents/") and pattern.match("/")
    assert not pattern.match("/accounts/login/") and not pattern.match("/api/documents/1/")
