"""ECR repository for the app image: immutable tags, scan on push, a lifecycle policy (ECR-01..03)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from keel.components import PACKAGE, child, named_tags


@dataclass
class RepositoryArgs:
    # Encryption is fixed at creation: give each key choice its own name (stack_config.repository_name),
    # or a changed key would replace the repository under the same name and collide.
    name: str
    keep_images: int = 30  # tagged images kept for rollback
    kms_key_arn: pulumi.Input[str] | None = None
    # True (prod): a repository the stack deletes or replaces stays in AWS with its images (Pulumi forgets
    # it); False: deleting the repository deletes its images too.
    keep_on_delete: bool = False
    tags: dict[str, str] = field(default_factory=dict)


def lifecycle_policy(keep_images: int) -> str:
    """Expire untagged images after a day; keep the newest ``keep_images`` images."""
    return json.dumps({"rules": [
        {"rulePriority": 1, "description": "Expire untagged images after 1 day",
         "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 1},
         "action": {"type": "expire"}},
        {"rulePriority": 2, "description": f"Keep the newest {keep_images} images for rollback",
         "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": keep_images},
         "action": {"type": "expire"}},
    ]})


class Repository(pulumi.ComponentResource):
    url: pulumi.Output[str]
    arn: pulumi.Output[str]

    def __init__(self, name: str, args: RepositoryArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{PACKAGE}:ecr:Repository", name, None, opts)
        encryption = [aws.ecr.RepositoryEncryptionConfigurationArgs(encryption_type="KMS", kms_key=args.kms_key_arn)] \
            if args.kms_key_arn is not None else [aws.ecr.RepositoryEncryptionConfigurationArgs(encryption_type="AES256")]
        self.repository = aws.ecr.Repository(
            f"{name}-repo", name=args.name, image_tag_mutability="IMMUTABLE",
            image_scanning_configuration=aws.ecr.RepositoryImageScanningConfigurationArgs(scan_on_push=True),
            encryption_configurations=encryption, force_delete=not args.keep_on_delete,
            tags=named_tags(args.tags, args.name), opts=child(self, retain_on_delete=args.keep_on_delete))
        aws.ecr.LifecyclePolicy(f"{name}-lifecycle", repository=self.repository.name,
                                policy=lifecycle_policy(args.keep_images), opts=child(self))
        self.url = self.repository.repository_url
        self.arn = self.repository.arn
        self.registry_id = self.repository.registry_id
        self.register_outputs({"url": self.url})
