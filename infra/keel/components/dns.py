"""Records in the user's Route 53 zone: the app's name (an alias of the load balancer) and SES's DKIM records."""

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


@dataclass
class DkimRecordsArgs:
    domain: str
    hosted_zone_id: str
    tokens: pulumi.Input[list[str]]  # SES Easy DKIM's three tokens


DKIM_TOKENS = 3  # SES Easy DKIM always issues three (SES Developer Guide, "Easy DKIM in Amazon SES")


def dkim_record(domain: str, token: str) -> tuple[str, str]:
    """(name, CNAME value) SES asks for: TOKEN._domainkey.DOMAIN -> TOKEN.dkim.amazonses.com."""
    return f"{token}._domainkey.{domain}", f"{token}.dkim.amazonses.com"


class DkimRecords(pulumi.ComponentResource):
    """The CNAME records that let SES verify the domain and sign its mail (DKIM)."""

    def __init__(self, name: str, args: DkimRecordsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{PACKAGE}:route53:DkimRecords", name, None, opts)
        tokens = pulumi.Output.from_input(args.tokens)
        for index in range(DKIM_TOKENS):
            record = tokens.apply(lambda values, index=index: dkim_record(args.domain, values[index]))
            aws.route53.Record(f"{name}-{index + 1}", zone_id=args.hosted_zone_id, type="CNAME", ttl=1800,
                               name=record.apply(lambda r: r[0]), records=[record.apply(lambda r: r[1])],
                               allow_overwrite=True, opts=child(self))
        self.register_outputs({})
