"""S3 bucket rules (S3-01..S3-08). In pulumi-aws v7 each bucket setting is its own resource that names
the bucket in its ``bucket`` input, so every rule here joins a bucket with its settings."""

from __future__ import annotations

import re

from keel_policy.documents import statements
from keel_policy.model import Finding, Resource, Stack, as_list, is_true
from keel_policy.registry import ALL, CRITICAL, HIGH, LOW, MEDIUM, PROD, Context, stack_rule

BUCKET = "s3:Bucket"
PUBLIC_ACLS = ("public-read", "public-read-write", "authenticated-read")
ACCOUNT_ROOT = re.compile(r"^AWS:(arn:aws[a-z-]*:iam::\d{12}:root|\d{12})$")


def settings(stack: Stack, bucket: Resource, kind: str) -> list[Resource]:
    """The resources of ``kind`` (e.g. "s3:BucketVersioning") that configure ``bucket``."""
    return stack.pointing_at(bucket, "bucket", kind)


def log_buckets(stack: Stack) -> list[Resource]:
    """Buckets that receive S3 server access logs or load-balancer access logs."""
    found = []
    for logging in stack.of("s3:BucketLogging"):
        found += stack.referenced(logging, "targetBucket", logging.props.get("targetBucket"), BUCKET)
    for lb in stack.of("lb:LoadBalancer"):
        found += stack.referenced(lb, "accessLogs", (lb.props.get("accessLogs") or {}).get("bucket"), BUCKET)
    return found


def versioned(stack: Stack, bucket: Resource) -> bool:
    return any((v.get("versioningConfiguration", "status") or "") == "Enabled"
               for v in settings(stack, bucket, "s3:BucketVersioning"))


@stack_rule("S3-01", "A public-access block with all four flags true for every bucket",
            "FSBP S3.8 (S3.1 account level); CKV2_AWS_6, CKV_AWS_53, CKV_AWS_54, CKV_AWS_55, CKV_AWS_56",
            ALL, CRITICAL, (BUCKET,))
def public_access_block(stack: Stack, ctx: Context):
    flags = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    for bucket in stack.of(BUCKET):
        blocks = settings(stack, bucket, "s3:BucketPublicAccessBlock")
        if not blocks:
            yield Finding("no BucketPublicAccessBlock for this bucket", bucket)
        for block in blocks:
            off = [f for f in flags if not is_true(block.props.get(f))]
            if off:
                yield Finding(f"public-access block {block.name} leaves {off} off", bucket)


@stack_rule("S3-02", "ACLs disabled (ownership BucketOwnerEnforced) and no public ACL",
            "FSBP S3.12, S3.2, S3.3; CKV_AWS_20, CKV_AWS_57, CKV2_AWS_43; PCP aws-s3-bucket-disallow-public-read",
            ALL, HIGH, (BUCKET,))
def ownership_enforced(stack: Stack, ctx: Context):
    for bucket in stack.of(BUCKET):
        rules = [c.get("rule", "objectOwnership") for c in settings(stack, bucket, "s3:BucketOwnershipControls")]
        if "BucketOwnerEnforced" not in rules:
            yield Finding("no BucketOwnershipControls with objectOwnership=BucketOwnerEnforced", bucket)
        acls = [bucket.props.get("acl")] + [a.props.get("acl") for a in settings(stack, bucket, "s3:BucketAcl")]
        public = [a for a in acls if a in PUBLIC_ACLS]
        if public:
            yield Finding(f"public ACL {public[0]}", bucket)


def _policies(stack: Stack, bucket: Resource):
    for policy in settings(stack, bucket, "s3:BucketPolicy"):
        yield from statements(policy.props.get("policy"))
    yield from statements(bucket.props.get("policy"))


@stack_rule("S3-03", "The bucket policy denies every request without TLS (aws:SecureTransport=false)",
            "FSBP S3.5; CKV_AWS_379", ALL, HIGH, (BUCKET,))
def tls_only(stack: Stack, ctx: Context):
    for bucket in stack.of(BUCKET):
        if not any(_denies_plain_http(s) for s in _policies(stack, bucket)):
            yield Finding("no Deny s3:* statement with Condition Bool aws:SecureTransport=false", bucket)


def _denies_plain_http(st) -> bool:
    condition = (st.conditions.get("Bool") or {}).get("aws:SecureTransport")
    return (st.effect == "Deny" and any(a in ("s3:*", "*") for a in st.actions)
            and str(as_list(condition)[0] if as_list(condition) else "").lower() == "false")


@stack_rule("S3-04", "No bucket policy grants access to everyone (Principal *) or to a whole other account beyond "
            "log delivery", "FSBP S3.6; CKV_AWS_70", ALL, CRITICAL, (BUCKET,))
def no_public_grant(stack: Stack, ctx: Context):
    for bucket in stack.of(BUCKET):
        for st in _policies(stack, bucket):
            if st.effect != "Allow":
                continue
            if st.any_principal:
                yield Finding(f"Allow {list(st.actions)} to Principal *", bucket)
            elif any(ACCOUNT_ROOT.match(p) for p in st.principals) and set(st.actions) - {"s3:PutObject"}:
                yield Finding(f"Allow {list(st.actions)} to a whole AWS account", bucket)


@stack_rule("S3-05", "Default encryption is configured explicitly (SSE-S3 at least)",
            "CKV_AWS_19, CKV_AWS_145; PCP aws-s3-bucket-enable-server-side-encryption", ALL, HIGH, (BUCKET,))
def encrypted(stack: Stack, ctx: Context):
    for bucket in stack.of(BUCKET):
        if not _algorithms(stack, bucket) & {"AES256", "aws:kms", "aws:kms:dsse"}:
            yield Finding("no BucketServerSideEncryptionConfiguration with a default algorithm", bucket)


def _rules(stack: Stack, bucket: Resource) -> list[dict]:
    found = []
    for config in settings(stack, bucket, "s3:BucketServerSideEncryptionConfiguration"):
        found += as_list(config.props.get("rules"))
    return found


def _algorithms(stack: Stack, bucket: Resource) -> set[str]:
    return {(r.get("applyServerSideEncryptionByDefault") or {}).get("sseAlgorithm") for r in _rules(stack, bucket)}


@stack_rule("S3-05-PROD", "Prod buckets' default encryption is SSE-KMS with bucketKeyEnabled (log buckets: "
            "SSE-S3, see LOG-BUCKET-SSE-S3)", "CKV_AWS_145; PCP aws-s3-bucket-configure-server-side-encryption-kms, "
            "-enable-server-side-encryption-bucket-key; S3.17 (NIST)", PROD, MEDIUM, (BUCKET,))
def kms_encrypted(stack: Stack, ctx: Context):
    logs = log_buckets(stack)
    for bucket in stack.of(BUCKET):
        if not _rules(stack, bucket):
            continue  # no default encryption at all is S3-05's finding
        kms = [r for r in _rules(stack, bucket)
               if (r.get("applyServerSideEncryptionByDefault") or {}).get("sseAlgorithm", "").startswith("aws:kms")
               and is_true(r.get("bucketKeyEnabled"))]
        if not kms:
            yield Finding("not SSE-KMS with bucketKeyEnabled", bucket,
                          "LOG-BUCKET-SSE-S3" if bucket in logs else None)


@stack_rule("S3-06", "Versioning is Enabled", "CKV_AWS_21; S3.14 (NIST)", PROD, MEDIUM, (BUCKET,))
def versioning(stack: Stack, ctx: Context):
    for bucket in stack.of(BUCKET):
        if not versioned(stack, bucket):
            yield Finding("no BucketVersioning with status Enabled", bucket)


@stack_rule("S3-07", "A lifecycle rule aborts incomplete multipart uploads, and expires noncurrent versions when "
            "versioned", "FSBP S3.13, S3.10; CKV2_AWS_61, CKV_AWS_300", ALL, LOW, (BUCKET,))
def lifecycle(stack: Stack, ctx: Context):
    for bucket in stack.of(BUCKET):
        rules = [r for c in settings(stack, bucket, "s3:BucketLifecycleConfiguration")
                 for r in as_list(c.props.get("rules")) if r.get("status") == "Enabled"]
        if not any((r.get("abortIncompleteMultipartUpload") or {}).get("daysAfterInitiation") for r in rules):
            yield Finding("no enabled lifecycle rule with abortIncompleteMultipartUpload.daysAfterInitiation", bucket)
        if versioned(stack, bucket) and not any(r.get("noncurrentVersionExpiration") for r in rules):
            yield Finding("versioned, but no lifecycle rule expires noncurrent versions", bucket)


@stack_rule("S3-08", "Server access logging to a separate log bucket",
            "FSBP S3.9; AWSGuard s3-bucket-logging-enabled; CKV_AWS_18", PROD, LOW, (BUCKET,))
def access_logging(stack: Stack, ctx: Context):
    logs = log_buckets(stack)
    for bucket in stack.of(BUCKET):
        targets = [t for lg in settings(stack, bucket, "s3:BucketLogging")
                   for t in stack.referenced(lg, "targetBucket", lg.props.get("targetBucket"), BUCKET)]
        if not [t for t in targets if t is not bucket] and not _external_target(stack, bucket):
            yield Finding("no BucketLogging to a separate bucket", bucket,
                          "LOG-BUCKET-SSE-S3" if bucket in logs else None)


def _external_target(stack: Stack, bucket: Resource) -> bool:
    """A BucketLogging whose target is a bucket outside this stack (an organisation's log bucket)."""
    return any(lg.props.get("targetBucket") and not stack.referenced(lg, "targetBucket", lg.props.get("targetBucket"),
                                                                     BUCKET)
               for lg in settings(stack, bucket, "s3:BucketLogging"))
