"""Secrets Manager entries for every credential the app reads (DATABASE_URL, REDIS_URL, ...).

One secret per variable, named ``<path>/<VARIABLE>-<suffix>``: the stack's own credentials and the
team's (``keel:secrets``) alike. Containers receive them through ECS ``secrets`` (``valueFrom`` =
the secret ARN), never plain environment. ``version_ids`` change whenever a value changes; the task
definitions carry their hash, so a changed secret rolls every service (ECS reads secrets only when
a task starts). A variable removed from the config deletes its secret, which AWS keeps restorable
for ``recovery_days`` (``aws secretsmanager restore-secret``) before it is gone.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from keel.components import PACKAGE, child, named_tags


@dataclass
class SecretsArgs:
    path: str  # secret names are <path>/<VARIABLE>-<random suffix>
    values: dict[str, pulumi.Input[str]]  # variable -> value (treated as secret)
    generated: tuple[str, ...] = ()  # variables whose value the stack generates (random, 64 characters)
    kms_key_arn: pulumi.Input[str] | None = None  # None: the AWS-managed aws/secretsmanager key
    recovery_days: int = 7  # 0 deletes at once (dev); AWS allows 7-30 otherwise
    tags: dict[str, str] = field(default_factory=dict)


def versions_fingerprint(version_ids: list[str]) -> str:
    """A short, non-secret fingerprint of secret versions."""
    return hashlib.sha256("|".join(version_ids).encode()).hexdigest()[:16]


def resource_slug(variable: str) -> str:
    """The logical-name part for a variable: DATABASE_URL -> database-url; other spellings unchanged,
    so Stripe_Key and STRIPE_KEY (two variables) never share a resource name."""
    return variable.lower().replace("_", "-") if variable == variable.upper() else variable


class Secrets(pulumi.ComponentResource):
    arns: dict[str, pulumi.Output[str]]
    fingerprint: pulumi.Output[str]

    def __init__(self, name: str, args: SecretsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{PACKAGE}:secretsmanager:Secrets", name, None, opts)
        self.arns = {}
        versions = []
        values = dict(args.values)
        for variable in args.generated:
            # Letters, digits and URL/shell-safe punctuation: well above Django's 50-character minimum.
            values[variable] = random.RandomPassword(
                f"{name}-{variable.lower().replace('_', '-')}-value", length=64, special=True,
                override_special="-_.~!#%^*+=", opts=child(self)).result
        for variable, value in sorted(values.items()):
            slug = resource_slug(variable)
            secret = aws.secretsmanager.Secret(
                f"{name}-{slug}", name_prefix=f"{args.path}/{variable}-",
                description=f"{variable} for {args.path} (ECS injects it as a container secret)",
                kms_key_id=args.kms_key_arn, recovery_window_in_days=args.recovery_days,
                tags=named_tags(args.tags, f"{args.path}/{variable}"), opts=child(self))
            version = aws.secretsmanager.SecretVersion(
                f"{name}-{slug}", secret_id=secret.arn, secret_string=pulumi.Output.secret(value),
                opts=child(self))
            self.arns[variable] = secret.arn
            versions.append(version.version_id)
        self.fingerprint = pulumi.Output.all(*versions).apply(lambda ids: versions_fingerprint(list(ids)))
        self.register_outputs({"arns": self.arns})
