"""CloudWatch log groups: one per process, with a retention per preset (LOG-01/02)."""

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
    kms_key_arn: pulumi.Input[str] | None = None
    tags: dict[str, str] = field(default_factory=dict)


class LogGroups(pulumi.ComponentResource):
    groups: dict[str, aws.cloudwatch.LogGroup]

    def __init__(self, name: str, args: LogGroupsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{PACKAGE}:logs:LogGroups", name, None, opts)
        self.groups = {
            process: aws.cloudwatch.LogGroup(
                f"{name}-{process}", name=f"/{args.path}/{process}", retention_in_days=args.retention_days,
                kms_key_id=args.kms_key_arn, tags=named_tags(args.tags, f"/{args.path}/{process}"),
                opts=child(self))
            for process in args.processes
        }
        self.names = {process: group.name for process, group in self.groups.items()}
        self.arns = {process: group.arn for process, group in self.groups.items()}
        self.register_outputs({"names": self.names})
