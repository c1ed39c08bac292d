"""The stack's alarm topic: SNS, encrypted with the stack's key when it has one, e-mail subscribed.

CloudWatch alarms and EventBridge rules (ECS deployment failures, RDS events) publish here. A topic
policy replaces SNS's default one, so it states every publisher: the account itself, CloudWatch and
EventBridge, the services only for this account (aws:SourceAccount, against the confused deputy).
With ``existing_topic_arn`` (keel:alarmTopicArn) nothing is created: alarms publish to that topic,
whose policy must allow cloudwatch.amazonaws.com and events.amazonaws.com (docs/operations.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from keel.components import PACKAGE, child, named_tags, policy_json
from keel.components.kms import TOPIC_PUBLISHERS


@dataclass
class NotificationsArgs:
    name: str  # the topic's name
    account_id: pulumi.Input[str]
    email: str | None = None  # subscribed; AWS mails a confirmation link first
    existing_topic_arn: str | None = None  # publish there instead of creating a topic
    kms_key_arn: pulumi.Input[str] | None = None  # SSE for the topic (SNS-01)
    tags: dict[str, str] = field(default_factory=dict)


def topic_policy(topic_arn: str, account_id: str) -> str:
    """Who may publish: principals of this account, and CloudWatch and EventBridge on its behalf."""
    return policy_json([
        {"Sid": "AccountOwns", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
         "Action": ["sns:Publish", "sns:Subscribe", "sns:GetTopicAttributes", "sns:SetTopicAttributes",
                    "sns:ListSubscriptionsByTopic"], "Resource": topic_arn},
        {"Sid": "AlarmsAndEventsPublish", "Effect": "Allow", "Principal": {"Service": list(TOPIC_PUBLISHERS)},
         "Action": "sns:Publish", "Resource": topic_arn,
         "Condition": {"StringEquals": {"aws:SourceAccount": account_id}}},
        {"Sid": "TlsOnly", "Effect": "Deny", "Principal": "*", "Action": "sns:Publish", "Resource": topic_arn,
         "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
    ])


class Notifications(pulumi.ComponentResource):
    topic_arn: pulumi.Output[str]

    def __init__(self, name: str, args: NotificationsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{PACKAGE}:sns:Notifications", name, None, opts)
        if args.existing_topic_arn:
            self.topic_arn = pulumi.Output.from_input(args.existing_topic_arn)
            self.ready: list[pulumi.Resource] = []
        else:
            topic = aws.sns.Topic(f"{name}-topic", name=args.name, kms_master_key_id=args.kms_key_arn,
                                  tags=named_tags(args.tags, args.name), opts=child(self))
            policy = aws.sns.TopicPolicy(
                f"{name}-policy", arn=topic.arn,
                policy=pulumi.Output.all(topic.arn, args.account_id).apply(lambda v: topic_policy(v[0], v[1])),
                opts=child(self))
            self.topic_arn = topic.arn
            self.ready = [policy]  # publishers (EventBridge) need the policy first
        if args.email:
            aws.sns.TopicSubscription(f"{name}-email", topic=self.topic_arn, protocol="email",
                                      endpoint=args.email, opts=child(self))
        self.register_outputs({"topicArn": self.topic_arn})
