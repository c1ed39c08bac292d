"""AWS WAF in front of the load balancer (prod, ALB-09): AWS's managed baseline rule groups, a
rate limit on sign-in, and body rules that cannot block a legitimate upload.

Body rules and uploads. AWS documents what each managed rule inspects ("AWS Managed Rules rule
groups list": Baseline rule groups, core rule set and known bad inputs). The ones that read the
request body, on an ALB its first 8 KB ("Oversize web request components"), are:

* SizeRestrictions_BODY (bodies over 8 KB): every upload over 8 KB; counted everywhere, Django
  enforces DOCUMENT_MAX_BYTES itself.
* CrossSiteScripting_BODY, GenericLFI_BODY (``../`` paths), GenericRFI_BODY (URLs with IPv4
  addresses), EC2MetaDataSSRF_BODY (the metadata address) in the core rule set, and
  JavaDeserializationRCE_BODY and Log4JRCE_BODY (``${jndi:``) in known bad inputs. Our own upload
  tests' bodies (``b"hello world\\n"``, ``b"%PDF-1.7 tiny"`` in a multipart envelope) match none of
  them, but a document store accepts any file: a saved web page has ``<script>``, source code has
  ``../``, a network diagram has private IPv4 URLs, so on the upload endpoints these rules would
  block real users' files with a 403 the app never sees. They only count there (``UPLOAD_PATHS``):
  each rule is overridden to Count, which still labels the request, and the ``BodyRulesOutsideUploads``
  rule blocks a request carrying any of those labels unless it is an upload ("Using labels in
  rule groups": a label match after the group). Everything else is blocked as before.

Sign-in: ``SignInRateLimit`` blocks a client address that POSTs to a sign-in form more than
``SIGN_IN_LIMIT`` times in ``SIGN_IN_WINDOW`` seconds (a rate-based rule: "Rate-based rule
statement"; 10 is the smallest limit, 60 s the shortest window). The app already refuses the 6th
wrong password per username and the 21st per address in a minute, telling the user how long to
wait (config/throttle.py); this rule stops a flood of guesses before it reaches a task at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from keel.components import PACKAGE, child, named_tags

W = aws.wafv2
# Body rules that count everywhere, or only on UPLOAD_PATHS (see BODY_RULE_LABELS).
SIZE_RULES = ("SizeRestrictions_BODY",)
COMMON_BODY_RULES = ("CrossSiteScripting_BODY", "GenericLFI_BODY", "GenericRFI_BODY", "EC2MetaDataSSRF_BODY")
KNOWN_BAD_BODY_RULES = ("JavaDeserializationRCE_BODY", "Log4JRCE_BODY")
MANAGED_GROUPS = (
    ("AWSManagedRulesAmazonIpReputationList", ()),
    ("AWSManagedRulesKnownBadInputsRuleSet", KNOWN_BAD_BODY_RULES),
    ("AWSManagedRulesCommonRuleSet", SIZE_RULES + COMMON_BODY_RULES),
)
# The labels a counted body rule leaves (namespace per group, rule name with its suffix as the
# docs spell the label, e.g. awswaf:managed:aws:core-rule-set:CrossSiteScripting_Body).
BODY_RULE_LABELS = tuple(
    [f"awswaf:managed:aws:core-rule-set:{rule.removesuffix('_BODY')}_Body" for rule in COMMON_BODY_RULES]
    + [f"awswaf:managed:aws:known-bad-inputs:{rule.removesuffix('_BODY')}_Body" for rule in KNOWN_BAD_BODY_RULES]
)
# Where documents are uploaded: the page's form (POST /) and the API (documents/urls.py).
UPLOAD_PATHS = r"^/(api/documents/)?$"
SIGN_IN_PATHS = r"^/(accounts|admin)/login/?$"
SIGN_IN_LIMIT = 60
SIGN_IN_WINDOW = 60


@dataclass
class WebAclArgs:
    name: str
    load_balancer_arn: pulumi.Input[str]
    tags: dict[str, str] = field(default_factory=dict)


def visibility(metric: str) -> W.WebAclRuleVisibilityConfigArgs:
    return W.WebAclRuleVisibilityConfigArgs(cloudwatch_metrics_enabled=True, metric_name=metric,
                                            sampled_requests_enabled=True)


def managed_rule(priority: int, group: str, counted: tuple[str, ...]) -> W.WebAclRuleArgs:
    overrides = [W.WebAclRuleStatementManagedRuleGroupStatementRuleActionOverrideArgs(
        name=rule, action_to_use=W.WebAclRuleStatementManagedRuleGroupStatementRuleActionOverrideActionToUseArgs(
            count=W.WebAclRuleStatementManagedRuleGroupStatementRuleActionOverrideActionToUseCountArgs()))
        for rule in counted]
    return W.WebAclRuleArgs(
        name=group, priority=priority, override_action=W.WebAclRuleOverrideActionArgs(none=W.WebAclRuleOverrideActionNoneArgs()),
        statement=W.WebAclRuleStatementArgs(managed_rule_group_statement=W.WebAclRuleStatementManagedRuleGroupStatementArgs(
            name=group, vendor_name="AWS", rule_action_overrides=overrides or None)),
        visibility_config=visibility(group))


def _no_transformation() -> list[dict]:
    return [{"priority": 0, "type": "NONE"}]


def path_matches(pattern: str) -> dict:
    return {"regex_match_statement": {"regex_string": pattern, "field_to_match": {"uri_path": {}},
                                      "text_transformations": _no_transformation()}}


def method_is(method: str) -> dict:
    return {"byte_match_statement": {"search_string": method, "positional_constraint": "EXACTLY",
                                     "field_to_match": {"method": {}}, "text_transformations": _no_transformation()}}


def sign_in_rate_limit(priority: int) -> dict:
    return {"name": "SignInRateLimit", "priority": priority,
            "action": {"block": {"custom_response": {"response_code": 429}}},
            "statement": {"rate_based_statement": {
                "limit": SIGN_IN_LIMIT, "evaluation_window_sec": SIGN_IN_WINDOW, "aggregate_key_type": "IP",
                "scope_down_statement": {"and_statement": {"statements": [method_is("POST"),
                                                                          path_matches(SIGN_IN_PATHS)]}}}},
            "visibility_config": visibility("SignInRateLimit")}


def body_rules_outside_uploads(priority: int) -> dict:
    """Block what a counted body rule labelled, unless the request is an upload."""
    labelled = {"or_statement": {"statements": [{"label_match_statement": {"scope": "LABEL", "key": label}}
                                                for label in BODY_RULE_LABELS]}}
    an_upload = {"and_statement": {"statements": [method_is("POST"), path_matches(UPLOAD_PATHS)]}}
    return {"name": "BodyRulesOutsideUploads", "priority": priority, "action": {"block": {}},
            "statement": {"and_statement": {"statements": [labelled, {"not_statement": {"statement": an_upload}}]}},
            "visibility_config": visibility("BodyRulesOutsideUploads")}


def web_acl_rules() -> list:
    """The sign-in rate limit first (cheapest), the managed groups, then the label rule, which
    must run after the groups that add its labels."""
    managed = [managed_rule(index + 1, group, counted) for index, (group, counted) in enumerate(MANAGED_GROUPS)]
    return [sign_in_rate_limit(0), *managed, body_rules_outside_uploads(len(managed) + 1)]


class WebAcl(pulumi.ComponentResource):
    def __init__(self, name: str, args: WebAclArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{PACKAGE}:wafv2:WebAcl", name, None, opts)
        acl = W.WebAcl(
            f"{name}-acl", name=args.name, scope="REGIONAL",
            description=f"{args.name}: AWS managed baseline rules, sign-in rate limit",
            default_action=W.WebAclDefaultActionArgs(allow=W.WebAclDefaultActionAllowArgs()),
            rules=web_acl_rules(),
            visibility_config=W.WebAclVisibilityConfigArgs(cloudwatch_metrics_enabled=True, metric_name=args.name,
                                                           sampled_requests_enabled=True),
            tags=named_tags(args.tags, args.name), opts=child(self))
        W.WebAclAssociation(f"{name}-alb", resource_arn=args.load_balancer_arn, web_acl_arn=acl.arn, opts=child(self))
        self.arn = acl.arn
        self.register_outputs({"arn": self.arn})
