"""A customer-managed KMS key for data at rest (prod): secrets, logs, media, cache, Performance Insights.

Rotation is on (KMS-01). The key policy keeps the account in control and lets CloudWatch Logs
use the key for this stack's log groups only (LOG-03 needs the logs service principal). CloudWatch
alarms and EventBridge publish to the encrypted alarm topic, so they may use the key through SNS for
this account (SNS developer guide, "Configure compatibility between event sources and encrypted topics").
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from keel.components import PACKAGE, child, named_tags, policy_json

# Services that publish to the stack's (encrypted) alarm topic.
TOPIC_PUBLISHERS = ("cloudwatch.amazonaws.com", "events.amazonaws.com")


@dataclass
class KeyArgs:
    name: str
    account_id: pulumi.Input[str]
    region: str
    deletion_window_days: int = 30
    protect: bool = False  # data encrypted with a deleted key is gone: prod protects it
    tags: dict[str, str] = field(default_factory=dict)


def key_policy(account_id: str, region: str) -> str:
    """Account administrators manage the key; CloudWatch Logs may encrypt this account's log groups."""
    return policy_json([
        {"Sid": "AccountAdministers", "Effect": "Allow",
         "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"}, "Action": "kms:*", "Resource": "*"},
        {"Sid": "CloudWatchLogsEncrypt", "Effect": "Allow",
         "Principal": {"Service": f"logs.{region}.amazonaws.com"},
         "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
         "Resource": "*",
         "Condition": {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": f"arn:aws:logs:{region}:{account_id}:*"}}},
        {"Sid": "AlarmsPublishToEncryptedTopic", "Effect": "Allow",
         "Principal": {"Service": list(TOPIC_PUBLISHERS)},
         # The documented form has no condition: SNS calls KMS with the publishing service's identity.
         "Action": ["kms:Decrypt", "kms:GenerateDataKey*"], "Resource": "*"},
    ])


def is_customer_managed(key_id: str) -> bool:
    """Whether a key is customer-managed ("CUSTOMER") rather than AWS-managed ("AWS", e.g. aws/rds), by
    KMS DescribeKey's KeyManager."""
    return aws.kms.get_key(key_id=key_id).key_manager == "CUSTOMER"


class Key(pulumi.ComponentResource):
    arn: pulumi.Output[str]

    def __init__(self, name: str, args: KeyArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{PACKAGE}:kms:Key", name, None, opts)
        policy = pulumi.Output.from_input(args.account_id).apply(lambda account: key_policy(account, args.region))
        self.key = aws.kms.Key(f"{name}-key", description=f"{args.name}: data at rest",
                               enable_key_rotation=True, deletion_window_in_days=args.deletion_window_days,
                               policy=policy, tags=named_tags(args.tags, args.name),
                               opts=child(self, protect=args.protect))
        aws.kms.Alias(f"{name}-alias", name=f"alias/{args.name}", target_key_id=self.key.key_id, opts=child(self))
        self.arn = self.key.arn
        self.register_outputs({"arn": self.arn})
