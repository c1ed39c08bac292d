"""The app's DNS name: an alias record in the user's Route 53 zone pointing at the load balancer."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from keel.components import PACKAGE, child


@dataclass
class AliasArgs:
    domain: str
    hosted_zone_id: str
    target_dns_name: pulumi.Input[str]
    target_zone_id: pulumi.Input[str]


class Alias(pulumi.ComponentResource):
    def __init__(self, name: str, args: AliasArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{PACKAGE}:route53:Alias", name, None, opts)
        aws.route53.Record(f"{name}-a", zone_id=args.hosted_zone_id, name=args.domain, type="A",
                           aliases=[aws.route53.RecordAliasArgs(name=args.target_dns_name, zone_id=args.target_zone_id,
                                                                evaluate_target_health=True)], opts=child(self))
        self.register_outputs({})
