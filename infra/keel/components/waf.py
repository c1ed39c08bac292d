"""AWS WAF in front of the load balancer (prod, ALB-09): AWS's managed baseline rule groups.

The common rule set's 8 KB body-size rule would block document uploads, so it only counts;
Django enforces DOCUMENT_MAX_BYTES itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from keel.components import PACKAGE, child, named_tags

W = aws.wafv2
MANAGED_GROUPS = (
    ("AWSManagedRulesAmazonIpReputationList", ()),
    ("AWSManagedRulesKnownBadInputsRuleSet", ()),
    ("AWSManagedRulesCommonRuleSet", ("SizeRestrictions_BODY",)),
)


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


class WebAcl(pulumi.ComponentResource):
    def __init__(self, name: str, args: WebAclArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{PACKAGE}:wafv2:WebAcl", name, None, opts)
        acl = W.WebAcl(
            f"{name}-acl", name=args.name, scope="REGIONAL", description=f"{args.name}: AWS managed baseline rules",
            default_action=W.WebAclDefaultActionArgs(allow=W.WebAclDefaultActionAllowArgs()),
            rules=[managed_rule(index, group, counted) for index, (group, counted) in enumerate(MANAGED_GROUPS)],
            visibility_config=W.WebAclVisibilityConfigArgs(cloudwatch_metrics_enabled=True, metric_name=args.name,
                                                           sampled_requests_enabled=True),
            tags=named_tags(args.tags, args.name), opts=child(self))
        W.WebAclAssociation(f"{name}-alb", resource_arn=args.load_balancer_arn, web_acl_arn=acl.arn, opts=child(self))
        self.arn = acl.arn
        self.register_outputs({"arn": self.arn})
