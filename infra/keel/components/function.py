"""A small Lambda function the load balancer invokes: the maintenance page (keel/maintenance/).

Its code is the files given (zipped by Pulumi), its log group is created beforehand with the
stack's retention (keel.components.logs), and only the load balancer's target group may invoke it
(a resource policy scoped to that target group's ARN).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pulumi
import pulumi_aws as aws

from keel.components import PACKAGE, child, named_tags

RUNTIME = "python3.12"  # Lambda's managed runtime; the handler uses the standard library only


@dataclass
class FunctionArgs:
    physical_name: str
    role_arn: pulumi.Input[str]
    source_dir: Path  # every file in it is packaged
    handler: str  # module.function
    invoker_target_group_arn: pulumi.Input[str]  # the only caller allowed
    environment: dict[str, str] = field(default_factory=dict)
    memory_mb: int = 128
    timeout_seconds: int = 3
    tags: dict[str, str] = field(default_factory=dict)


class Function(pulumi.ComponentResource):
    arn: pulumi.Output[str]

    def __init__(self, name: str, args: FunctionArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{PACKAGE}:lambda:Function", name, None, opts)
        # Paths relative to the program's working directory: the state is the same on every machine.
        code = pulumi.AssetArchive({path.name: pulumi.FileAsset(os.path.relpath(path, Path.cwd()))
                                    for path in sorted(args.source_dir.iterdir())
                                    if path.is_file() and path.suffix in (".py", ".html")})
        self.function = aws.lambda_.Function(
            f"{name}-fn", name=args.physical_name, role=args.role_arn, runtime=RUNTIME, handler=args.handler,
            code=code, memory_size=args.memory_mb, timeout=args.timeout_seconds,
            environment=aws.lambda_.FunctionEnvironmentArgs(variables=args.environment) if args.environment else None,
            tags=named_tags(args.tags, args.physical_name), opts=child(self))
        self.permission = aws.lambda_.Permission(
            f"{name}-invoke", action="lambda:InvokeFunction", function=self.function.name,
            principal="elasticloadbalancing.amazonaws.com", source_arn=args.invoker_target_group_arn,
            opts=child(self))
        self.arn = self.function.arn
        self.register_outputs({"arn": self.arn})
