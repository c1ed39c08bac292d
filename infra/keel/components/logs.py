"""CloudWatch log groups: one per process, with a retention per preset (LOG-01/02).

Also groups AWS services write to under names of their own (RDS: /aws/rds/instance/<id>/<log>),
created here first so they get the same retention and key instead of "never expire".
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from keel.components import PACKAGE, child, named_tags


@dataclass
class LogGroupsArgs:
    path: str  # log group names are /<path>/<process>
    processes: tuple[str, ...]
    retention_days: int
    exact_names: dict[str, str] = field(default_factory=dict)  # key -> a name a service chose
    kms_key_arn: pulumi.Input[str] | None = None
    tags: dict[str, str] = field(default_factory=dict)


class LogGroups(pulumi.ComponentResource):
    groups: dict[str, aws.cloudwatch.LogGroup]

    def __init__(self, name: str, args: LogGroupsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{PACKAGE}:logs:LogGroups", name, None, opts)
        wanted = {**{process: f"/{args.path}/{process}" for process in args.processes}, **args.exact_names}
        self.groups = {
            key: aws.cloudwatch.LogGroup(
                f"{name}-{key}", name=group_name, retention_in_days=args.retention_days,
                kms_key_id=args.kms_key_arn, tags=named_tags(args.tags, group_name), opts=child(self))
            for key, group_name in wanted.items()
        }
        self.names = {process: group.name for process, group in self.groups.items()}
        self.arns = {process: group.arn for process, group in self.groups.items()}
        self.register_outputs({"names": self.names})
