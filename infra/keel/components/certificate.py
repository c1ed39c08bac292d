"""An ACM certificate for the stack's domain, validated through DNS records in its Route 53 zone.

Used when ``keel:hostedZoneId`` is set without ``keel:certificateArn``; the validation records
belong to the certificate, so they live with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from keel.components import PACKAGE, child, named_tags


@dataclass
class CertificateArgs:
    domain: str
    hosted_zone_id: str
    tags: dict[str, str] = field(default_factory=dict)


class Certificate(pulumi.ComponentResource):
    arn: pulumi.Output[str]  # resolves once ACM has issued it

    def __init__(self, name: str, args: CertificateArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{PACKAGE}:acm:Certificate", name, None, opts)
        certificate = aws.acm.Certificate(f"{name}-cert", domain_name=args.domain, validation_method="DNS",
                                          tags=named_tags(args.tags, args.domain),
                                          opts=child(self, replace_on_changes=["domainName"]))
        option = certificate.domain_validation_options[0]
        record = aws.route53.Record(f"{name}-validation", zone_id=args.hosted_zone_id,
                                    name=option.resource_record_name, type=option.resource_record_type,
                                    records=[option.resource_record_value], ttl=300, allow_overwrite=True,
                                    opts=child(self))
        validation = aws.acm.CertificateValidation(f"{name}-validation", certificate_arn=certificate.arn,
                                                   validation_record_fqdns=[record.fqdn], opts=child(self))
        self.arn = validation.certificate_arn
        self.register_outputs({"arn": self.arn})
