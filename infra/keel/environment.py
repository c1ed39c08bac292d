"""Each container's ``environment`` and ``secrets``, built from the app's environment contract.

The one place the stack decides what a process sees, so the app and the stack cannot disagree:
every contract variable the stack provides is set, plain values in ``environment``, every
credential (``secret=True``) only in ``secrets`` as a Secrets Manager ``valueFrom``. The team's own
variables (``keel:env``) and secrets (``keel:secrets``), already validated by ``keel.variables``,
join them the same way: plain in ``environment``, secret only in ``secrets``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from keel import contract


class ContractError(Exception):
    """The stack cannot satisfy the contract (a required variable has no value)."""


@dataclass(frozen=True)
class StackValues:
    """Plain values the stack knows after its resources exist (resolved, not Outputs)."""

    allowed_hosts: list[str]
    csrf_origins: list[str]
    bucket: str
    region: str
    secret_refs: dict[str, str]  # variable -> Secrets Manager valueFrom (the contract's and keel:secrets')
    # The RDS-managed master secret the app reads its (rotated) password from; None: attached database.
    database_secret_arn: str | None = None
    https: bool = True  # False: the load balancer serves plain HTTP (dev without a domain)
    user_env: dict[str, str] = field(default_factory=dict)  # keel:env (any names), already validated
    metrics_namespace: str = ""  # beat publishes the queue metrics here; empty: off


def web_concurrency(cpu: int) -> int:
    """gunicorn workers for a task size: 2 per vCPU plus one, at least 2."""
    return max(2, 2 * cpu // 1024 + 1)


def stack_plain_values(values: StackValues, cpu: int) -> dict[str, str]:
    """The plain (non-secret) variables whose source is the stack."""
    plain = {
        "DJANGO_DEBUG": "false",
        # Production mode redirects to https:// and marks cookies Secure, unless the stack serves plain HTTP.
        "DJANGO_HTTPS": "true" if values.https else "false",
        "DJANGO_ALLOWED_HOSTS": ",".join(values.allowed_hosts),
        "DJANGO_CSRF_TRUSTED_ORIGINS": ",".join(values.csrf_origins),
        "AWS_STORAGE_BUCKET_NAME": values.bucket,
        "AWS_S3_REGION_NAME": values.region,
        "PORT": str(contract.PORT),
        "WEB_CONCURRENCY": str(web_concurrency(cpu)),
    }
    if values.database_secret_arn:
        plain["DATABASE_SECRET_ARN"] = values.database_secret_arn
    if values.metrics_namespace:
        plain["QUEUE_METRICS_NAMESPACE"] = values.metrics_namespace
    return plain


def container_environment(values: StackValues, cpu: int) -> tuple[list[dict], list[dict]]:
    """(environment, secrets) in ECS's shape for a process of ``cpu`` units.

    Raises when a production-required contract variable would be missing, or when a credential
    would land in plain environment.
    """
    plain = stack_plain_values(values, cpu)
    environment: dict[str, str] = {}
    secrets: dict[str, str] = {}
    for var in contract.CONTRACT:
        if var.secret:
            if var.name in values.secret_refs:
                secrets[var.name] = values.secret_refs[var.name]
        elif var.name in plain:
            environment[var.name] = plain[var.name]
        elif var.name in values.user_env:
            environment[var.name] = values.user_env[var.name]
    # The team's own names, outside the contract: the app reads them without a contract entry.
    for name, value in values.user_env.items():
        if name not in contract.BY_NAME:
            environment[name] = value
    for name, ref in values.secret_refs.items():
        if name not in contract.BY_NAME:
            secrets[name] = ref
    missing = [name for name in contract.production_required()
               if name not in environment and name not in secrets]
    if missing:
        raise ContractError(f"the stack provides no value for {', '.join(missing)} (required in production)")
    plain_as_secret = sorted(set(values.secret_refs) & {var.name for var in contract.CONTRACT if not var.secret})
    if plain_as_secret:
        raise ContractError(f"secret references for plain contract variables: {plain_as_secret}")
    both = sorted(set(environment) & set(secrets))
    if both:
        raise ContractError(f"variables both plain and secret: {both}")
    return (
        [{"name": name, "value": value} for name, value in sorted(environment.items())],
        [{"name": name, "valueFrom": ref} for name, ref in sorted(secrets.items())],
    )
