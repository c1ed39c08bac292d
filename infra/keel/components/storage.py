"""S3 buckets locked down the same way: the media bucket and (prod) the log bucket.

All four public-access blocks (S3-01), object ownership enforced so ACLs are off (S3-02),
default encryption (S3-05), a TLS-only bucket policy (S3-03), a lifecycle rule for incomplete
uploads and old versions (S3-07), versioning and server access logging where asked (S3-06/08).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from keel.components import PACKAGE, child, named_tags, policy_json


@dataclass
class BucketArgs:
    name_prefix: str  # bucket names get a random suffix: they are global
    versioning: bool = False
    kms_key_arn: pulumi.Input[str] | None = None  # SSE-KMS with a bucket key; None: SSE-S3
    access_log_bucket: pulumi.Input[str] | None = None  # server access logs go there (S3-08)
    # What the access-log setting waits for: the target bucket's policy allowing S3 log delivery.
    access_log_depends_on: list[pulumi.Resource] = field(default_factory=list)
    force_destroy: bool = False  # let `pulumi destroy` empty the bucket (never in prod)
    # Log delivery services may write here (ALB access logs, S3 server access logs, VPC flow logs).
    log_delivery: bool = False
    account_id: pulumi.Input[str] | None = None  # required with log_delivery (source-account conditions)
    elb_account_arn: pulumi.Input[str] | None = None  # the region's ELB log-delivery account (older regions)
    noncurrent_days: int = 30
    expiration_days: int | None = None  # objects expire after this many days (log buckets); None: kept
    protect: bool = False
    tags: dict[str, str] = field(default_factory=dict)


# Regions older than August 2022 deliver ALB access logs from a regional ELB account; newer ones only
# through the logdelivery.elasticloadbalancing.amazonaws.com service principal.
LEGACY_ELB_LOG_REGIONS = frozenset({
    "us-east-1", "us-east-2", "us-west-1", "us-west-2", "af-south-1", "ap-east-1", "ap-south-1",
    "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3",
    "ca-central-1", "eu-central-1", "eu-west-1", "eu-west-2", "eu-west-3", "eu-south-1", "eu-north-1",
    "me-south-1", "sa-east-1", "us-gov-west-1", "us-gov-east-1",
})


def log_delivery_statements(bucket_arn: str, account_id: str, elb_account_arn: str | None) -> list[dict]:
    """Let AWS log delivery write under its own prefixes, only for this account's resources."""
    source = {"StringEquals": {"aws:SourceAccount": account_id}}
    elb_principals = [{"Service": "logdelivery.elasticloadbalancing.amazonaws.com"}]
    if elb_account_arn:
        elb_principals.append({"AWS": elb_account_arn})
    statements = [
        {"Sid": f"AlbAccessLogs{index}", "Effect": "Allow", "Principal": principal, "Action": "s3:PutObject",
         "Resource": f"{bucket_arn}/alb/AWSLogs/{account_id}/*"}
        for index, principal in enumerate(elb_principals)
    ]
    statements += [
        {"Sid": "S3ServerAccessLogs", "Effect": "Allow", "Principal": {"Service": "logging.s3.amazonaws.com"},
         "Action": "s3:PutObject", "Resource": f"{bucket_arn}/s3/*", "Condition": source},
        {"Sid": "FlowLogsWrite", "Effect": "Allow", "Principal": {"Service": "delivery.logs.amazonaws.com"},
         "Action": "s3:PutObject", "Resource": f"{bucket_arn}/AWSLogs/{account_id}/*", "Condition": source},
        {"Sid": "FlowLogsAclCheck", "Effect": "Allow", "Principal": {"Service": "delivery.logs.amazonaws.com"},
         "Action": ["s3:GetBucketAcl", "s3:ListBucket"], "Resource": bucket_arn, "Condition": source},
    ]
    return statements


def bucket_policy(bucket_arn: str, extra: list[dict]) -> str:
    """Deny every request that is not over TLS, plus the extra (service-principal) statements."""
    return policy_json([
        {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
         "Resource": [bucket_arn, f"{bucket_arn}/*"], "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
        *extra,
    ])


class Bucket(pulumi.ComponentResource):
    name: pulumi.Output[str]
    arn: pulumi.Output[str]

    def __init__(self, name: str, args: BucketArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{PACKAGE}:s3:Bucket", name, None, opts)
        bucket = aws.s3.Bucket(f"{name}-bucket", bucket_prefix=args.name_prefix, force_destroy=args.force_destroy,
                               tags=named_tags(args.tags, args.name_prefix.rstrip("-")),
                               opts=child(self, protect=args.protect))
        self.bucket = bucket
        self.name, self.arn = bucket.bucket, bucket.arn
        block = aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access-block", bucket=bucket.id, block_public_acls=True, block_public_policy=True,
            ignore_public_acls=True, restrict_public_buckets=True, opts=child(self))
        aws.s3.BucketOwnershipControls(
            f"{name}-ownership", bucket=bucket.id,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"), opts=child(self))
        if args.kms_key_arn is not None:
            default = aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                sse_algorithm="aws:kms", kms_master_key_id=args.kms_key_arn)
        else:
            default = aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                sse_algorithm="AES256")
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption", bucket=bucket.id,
            rules=[aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                apply_server_side_encryption_by_default=default, bucket_key_enabled=args.kms_key_arn is not None)],
            opts=child(self))
        versioning = None
        if args.versioning:
            versioning = aws.s3.BucketVersioning(
                f"{name}-versioning", bucket=bucket.id,
                versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
                opts=child(self))
        rules = [aws.s3.BucketLifecycleConfigurationRuleArgs(
            id="abort-incomplete-uploads", status="Enabled",
            filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
            abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                days_after_initiation=1))]
        if args.versioning:
            rules.append(aws.s3.BucketLifecycleConfigurationRuleArgs(
                id="expire-old-versions", status="Enabled",
                filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                    noncurrent_days=args.noncurrent_days)))
        if args.expiration_days is not None:
            rules.append(aws.s3.BucketLifecycleConfigurationRuleArgs(
                id="expire-objects", status="Enabled", filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=args.expiration_days)))
        aws.s3.BucketLifecycleConfiguration(f"{name}-lifecycle", bucket=bucket.id, rules=rules,
                                            opts=child(self, depends_on=[versioning] if versioning else []))
        if args.access_log_bucket is not None:
            aws.s3.BucketLogging(f"{name}-logging", bucket=bucket.id, target_bucket=args.access_log_bucket,
                                 target_prefix=f"s3/{args.name_prefix}",
                                 opts=child(self, depends_on=list(args.access_log_depends_on)))
        if args.log_delivery:
            policy = pulumi.Output.all(bucket.arn, args.account_id, args.elb_account_arn).apply(
                lambda v: bucket_policy(v[0], log_delivery_statements(v[0], v[1], v[2])))
        else:
            policy = bucket.arn.apply(lambda arn: bucket_policy(arn, []))
        # After the public-access block: AWS rejects policy writes racing the block's creation.
        self.policy = aws.s3.BucketPolicy(f"{name}-policy", bucket=bucket.id, policy=policy,
                                          opts=child(self, depends_on=[block]))
        self.register_outputs({"name": self.name, "arn": self.arn})
