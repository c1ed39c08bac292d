"""Documented exceptions: the one place where Keel departs from an upstream rule, and why.

A rule that hits a situation covered here reports a ``Finding`` carrying the exception's key:
it shows as a warning (never a failure) in ``keel check`` and in the pack's advisory
``keel-documented-exceptions`` policy. Exceptions that waive upstream checks Keel does not
encode (e.g. Checkov's "no port 80") are listed too, so a reviewer finds every waiver here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DocumentedException:
    key: str
    waives: str  # the upstream IDs (and Keel rules) the exception applies to
    applies_when: str
    reason: str


EXCEPTIONS: tuple[DocumentedException, ...] = (
    DocumentedException(
        "HTTP-REDIRECT",
        "CKV_AWS_260; PCP aws-lb-listener-disallow-unencrypted-traffic, "
        "aws-alb-listener-disallow-unencrypted-traffic, aws-ec2-securitygroup-disallow-inbound-http-traffic",
        "the load balancer has a port-80 HTTP listener whose only action redirects to HTTPS (ALB-01)",
        "Browsers still type http://; a listener that answers only with a 301 to HTTPS carries no data "
        "in clear and is what FSBP ELB.1, AWSGuard and CKV2_AWS_20 ask for. NET-04 therefore allows "
        "tcp/80 from the internet on the load balancer's security group only while that redirect exists.",
    ),
    DocumentedException(
        "ALB-PUBLIC-INGRESS",
        "PCP aws-ec2-securitygroup-disallow-public-internet-ingress",
        "the security group belongs to an internet-facing load balancer and admits only tcp/443 (and tcp/80 "
        "for the redirect)",
        "A public web application must accept the internet on 443; FSBP EC2.18 authorises 80/443. Every other "
        "security group stays closed to 0.0.0.0/0 and ::/0 (NET-04, NET-05).",
    ),
    DocumentedException(
        "DEV-PLAIN-HTTP",
        "ALB-01, ALB-02, ALB-03, ALB-11, NET-04 (port 80)",
        "a stack other than staging or prod whose load balancer has no HTTPS listener (no keel:domain set)",
        "A throw-away dev stack without a domain has no certificate to serve; it may serve plain HTTP on the "
        "load balancer's DNS name. The findings are still reported, as warnings. Staging and prod must serve "
        "HTTPS.",
    ),
    DocumentedException(
        "DEV-PUBLIC-TASKS",
        "ECS-02 (FSBP ECS.2, ECS.16; CKV_AWS_333)",
        "a stack other than staging or prod without any NAT gateway (keel:natGateways none): its services run in "
        "the public subnets with assignPublicIp, and their security group admits only the load balancer's (NET-06)",
        "A dev stack's NAT gateway costs about USD 33 a month before it serves a request, more than the tasks. "
        "Without NAT, tasks need a public IP to reach ECR, CloudWatch Logs and Secrets Manager; the task security "
        "group still admits nothing but the load balancer, so nothing from the internet reaches a task. The "
        "database and cache stay in private subnets. Staging and prod keep private tasks (the config refuses "
        "natGateways none there). Cost comparison with a NAT instance and VPC endpoints: docs/operations.md.",
    ),
    DocumentedException(
        "DJANGO-SECRET-KEY-ROTATION",
        "SEC-02 (FSBP SecretsManager.1/.4, CKV2_AWS_57) for the DJANGO_SECRET_KEY secret",
        "always: the rule only asks rotation of database credentials",
        "Django's SECRET_KEY has no managed rotation. Rotate it by hand: put the current key in "
        "DJANGO_SECRET_KEY_FALLBACKS, set a new DJANGO_SECRET_KEY, deploy, and drop the fallback after the "
        "session lifetime.",
    ),
    DocumentedException(
        "RDS-DEFAULT-PORT",
        "RDS-16 (FSBP RDS.23)",
        "the database listens on 5432",
        "A non-default port adds no protection once the database admits only the task security group "
        "(NET-06) and is not publicly accessible (RDS-02). Advisory only.",
    ),
    DocumentedException(
        "RDS-PASSWORD-AUTH",
        "RDS-15 (FSBP RDS.10, CKV_AWS_161)",
        "the app authenticates with the RDS-managed master password, rotated by RDS (RDS-13)",
        "IAM database authentication needs token refresh in the app's connection pool; the managed, "
        "rotated password through Secrets Manager meets the same intent. Advisory only.",
    ),
    DocumentedException(
        "FARGATE-EGRESS",
        "NET-10 (CKV_AWS_382)",
        "the stack has no VPC interface endpoints for ECR, Secrets Manager and CloudWatch Logs",
        "Fargate tasks pull images, read secrets and ship logs over HTTPS to AWS endpoints; without VPC "
        "endpoints (NET-11, advisory, cost) they need tcp/443 egress to the internet through the NAT gateway.",
    ),
    DocumentedException(
        "S3-NOT-ADOPTED",
        "FSBP S3.11 / CKV2_AWS_62 (event notifications); FSBP S3.7 / CKV_AWS_144 and PCP replication "
        "(cross-region replication)",
        "always",
        "The media bucket has no consumer for events, and cross-region replication doubles storage cost for "
        "data the app can re-upload; versioning (S3-06) covers accidental deletion in prod.",
    ),
    DocumentedException(
        "LOG-BUCKET-SSE-S3",
        "S3-05 prod part (SSE-KMS), S3-08 for the log bucket itself",
        "the bucket receives load-balancer access logs or S3 server access logs",
        "ELB access logs and S3 server access logging deliver only to buckets encrypted with SSE-S3, and a log "
        "bucket logging to itself loops.",
    ),
)

BY_KEY = {e.key: e for e in EXCEPTIONS}
