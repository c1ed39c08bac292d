"""ECR repository rules (ECR-01..ECR-05)."""

from __future__ import annotations

from keel_policy.documents import statements
from keel_policy.model import Finding, Resource, Stack, as_list, is_true
from keel_policy.registry import ALL, CRITICAL, HIGH, LOW, MEDIUM, OPT, Context, resource_rule, stack_rule

REPO = "ecr:Repository"


@resource_rule("ECR-01", "imageTagMutability is IMMUTABLE (deploy by digest or unique tag)",
               "FSBP ECR.2; CKV_AWS_51; PCP aws-ecr-repository-disallow-mutable-image", ALL, MEDIUM, (REPO,))
def immutable_tags(repo: Resource, ctx: Context):
    if repo.props.get("imageTagMutability") != "IMMUTABLE":
        yield Finding(f"imageTagMutability is {repo.props.get('imageTagMutability', 'MUTABLE (default)')!r}")


@stack_rule("ECR-02", "Images are scanned on push (or by registry-level enhanced scanning)",
            "FSBP ECR.1; CKV_AWS_163; PCP aws-ecr-repository-enable-image-scan", ALL, HIGH, (REPO,))
def scan_on_push(stack: Stack, ctx: Context):
    enhanced = any(c.props.get("scanType") == "ENHANCED" for c in stack.of("ecr:RegistryScanningConfiguration"))
    for repo in stack.of(REPO):
        if not enhanced and not is_true(repo.get("imageScanningConfiguration", "scanOnPush")):
            yield Finding("imageScanningConfiguration.scanOnPush is not true", repo)


@stack_rule("ECR-03", "A lifecycle policy limits the repository's images", "FSBP ECR.3", ALL, LOW, (REPO,))
def lifecycle_policy(stack: Stack, ctx: Context):
    for repo in stack.of(REPO):
        if not stack.pointing_at(repo, "repository", "ecr:LifecyclePolicy"):
            yield Finding("no ecr.LifecyclePolicy for this repository", repo)


@resource_rule("ECR-04", "Encrypted with KMS (encryptionConfigurations[].encryptionType=KMS)",
               "CKV_AWS_136; PCP aws-ecr-repository-disallow-unencrypted-repository, -configure-customer-managed-key",
               OPT, LOW, (REPO,))
def kms(repo: Resource, ctx: Context):
    if not any(c.get("encryptionType") == "KMS" for c in as_list(repo.props.get("encryptionConfigurations"))):
        yield Finding("encrypted with AES256 (the default), not KMS")


@resource_rule("ECR-05", "No repository policy grants Principal *", "CKV_AWS_32", ALL, CRITICAL,
               ("ecr:RepositoryPolicy",))
def no_public_repository(policy: Resource, ctx: Context):
    for st in statements(policy.props.get("policy")):
        if st.effect == "Allow" and st.any_principal:
            yield Finding(f"Allow {list(st.actions)} to Principal *")

