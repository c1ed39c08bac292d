"""Amazon SES: a domain identity the app sends mail from (``keel:email ses``).

The identity is the stack's domain with Easy DKIM (SES generates the keys and signs every
message); SES verifies the domain once the three DKIM CNAME records it names exist, which the
stack writes into the hosted zone when it has one (``keel.components.dns.DkimRecords``). The app
sends through SES's HTTPS API with the task role (``iam.ses_send_statements``), so no long-lived
SMTP credentials exist anywhere. Until AWS lifts the account's SES sandbox, mail reaches only
verified addresses (SES Developer Guide, "Request production access").
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from keel.components import PACKAGE, child, named_tags


@dataclass
class EmailIdentityArgs:
    domain: str  # every address @domain may send once it is verified
    tags: dict[str, str] = field(default_factory=dict)


def identity_arn(region: str, account_id: str, domain: str) -> str:
    """The ARN IAM policies name for sending from ``domain`` (SES: arn:aws:ses:REGION:ACCOUNT:identity/NAME)."""
    return f"arn:aws:ses:{region}:{account_id}:identity/{domain}"


class EmailIdentity(pulumi.ComponentResource):
    arn: pulumi.Output[str]
    dkim_tokens: pulumi.Output[list[str]]  # three tokens: CNAME TOKEN._domainkey.DOMAIN -> TOKEN.dkim.amazonses.com

    def __init__(self, name: str, args: EmailIdentityArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{PACKAGE}:ses:EmailIdentity", name, None, opts)
        identity = aws.sesv2.EmailIdentity(f"{name}-identity", email_identity=args.domain,
                                           tags=named_tags(args.tags, args.domain), opts=child(self))
        self.arn = identity.arn
        self.dkim_tokens = identity.dkim_signing_attributes.apply(lambda attributes: list(attributes.tokens or []))
        self.register_outputs({"arn": self.arn})
