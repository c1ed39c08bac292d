"""RDS PostgreSQL: encrypted, private, TLS forced, backed up; RDS manages and rotates the password.

``manage_master_user_password`` keeps the password out of Pulumi entirely (RDS-13): RDS stores
it in its own Secrets Manager secret (``master_secret_arn``) and rotates it there. The stack never
reads it: DATABASE_URL carries no password, and the app gets the secret's ARN (DATABASE_SECRET_ARN)
and reads the current password itself when it connects, so a rotation reaches running tasks too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from keel import urls
from keel.components import PACKAGE, child, dependencies, named_tags

PORT = 5432
CA_CERTIFICATE = "rds-ca-rsa2048-g1"  # RDS-14
LOG_EXPORTS = ("postgresql", "upgrade")


def log_group_names(identifier: str) -> dict[str, str]:
    """The CloudWatch log groups RDS writes the exported logs of instance ``identifier`` to.

    The stack creates them before the instance (retention, key); otherwise RDS creates them with
    neither. This is why the instance has a fixed ``identifier`` rather than a prefix: the names must
    be known before it exists.
    """
    return {export: f"/aws/rds/instance/{identifier}/{export}" for export in LOG_EXPORTS}


@dataclass
class DatabaseArgs:
    identifier: str
    subnet_ids: list[pulumi.Input[str]]
    security_group_ids: list[pulumi.Input[str]]
    instance_class: str = "db.t4g.micro"
    engine_version: str = "16"  # major (RDS picks the newest minor) or major.minor
    allocated_storage: int = 20  # GiB, gp3
    max_allocated_storage: int = 100  # storage autoscaling ceiling
    backup_retention_days: int = 1
    multi_az: bool = False
    deletion_protection: bool = False
    final_snapshot: bool = False  # False: `pulumi destroy` skips the final snapshot (dev/staging)
    performance_insights: bool = False
    monitoring_interval: int = 0
    monitoring_role_arn: pulumi.Input[str] | None = None
    # The customer-managed key for storage (hence snapshots), Performance Insights and the managed secret;
    # None: AWS-managed keys (aws/rds). RDS fixes the storage key at creation: see storage_key_refusal.
    kms_key_arn: pulumi.Input[str] | None = None
    db_name: str = "keel"
    username: str = "keel_admin"  # not the engine default `postgres` (RDS-12)
    apply_immediately: bool = True
    protect: bool = False
    tags: dict[str, str] = field(default_factory=dict)


def parameter_group_family(engine_version: str) -> str:
    return f"postgres{engine_version.split('.')[0]}"


class Database(pulumi.ComponentResource):
    address: pulumi.Output[str]
    master_secret_arn: pulumi.Output[str]

    def __init__(self, name: str, args: DatabaseArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{PACKAGE}:rds:Database", name, None, opts)
        subnets = aws.rds.SubnetGroup(f"{name}-subnets", name=args.identifier, subnet_ids=args.subnet_ids,
                                      description=f"{args.identifier}: private subnets only",
                                      tags=named_tags(args.tags, args.identifier), opts=child(self))
        # A prefix, not a fixed name: a new family or description replaces the group, created before
        # the old one is deleted.
        parameters = aws.rds.ParameterGroup(
            f"{name}-params", name_prefix=f"{args.identifier}-pg{args.engine_version.split('.')[0]}-",
            family=parameter_group_family(args.engine_version),
            description=f"{args.identifier}: TLS required",
            parameters=[aws.rds.ParameterGroupParameterArgs(name="rds.force_ssl", value="1")],
            tags=named_tags(args.tags, args.identifier), opts=child(self))
        self.instance = aws.rds.Instance(
            f"{name}-instance", identifier=args.identifier, engine="postgres", engine_version=args.engine_version,
            instance_class=args.instance_class, db_name=args.db_name, username=args.username,
            manage_master_user_password=True, master_user_secret_kms_key_id=args.kms_key_arn,
            port=PORT, storage_type="gp3", allocated_storage=args.allocated_storage,
            max_allocated_storage=args.max_allocated_storage, storage_encrypted=True, kms_key_id=args.kms_key_arn,
            db_subnet_group_name=subnets.name, vpc_security_group_ids=args.security_group_ids,
            parameter_group_name=parameters.name, publicly_accessible=False, multi_az=args.multi_az,
            backup_retention_period=args.backup_retention_days, copy_tags_to_snapshot=True,
            deletion_protection=args.deletion_protection, skip_final_snapshot=not args.final_snapshot,
            final_snapshot_identifier=final_snapshot_name(name, args.identifier, self) if args.final_snapshot else None,
            auto_minor_version_upgrade=True, ca_cert_identifier=CA_CERTIFICATE,
            # keel:dbEngineVersion 16 -> 17 is a deliberate change; RDS refuses it without this.
            allow_major_version_upgrade=True,
            enabled_cloudwatch_logs_exports=list(LOG_EXPORTS),
            performance_insights_enabled=args.performance_insights,
            performance_insights_kms_key_id=args.kms_key_arn if args.performance_insights else None,
            performance_insights_retention_period=7 if args.performance_insights else None,
            monitoring_interval=args.monitoring_interval,
            monitoring_role_arn=args.monitoring_role_arn if args.monitoring_interval else None,
            apply_immediately=args.apply_immediately,
            tags=named_tags(args.tags, args.identifier),
            # The monitoring role's policy (RDS checks it when enhanced monitoring is turned on) and the
            # log groups, which RDS would otherwise create itself without retention or key.
            opts=child(self, protect=args.protect, depends_on=dependencies(opts)))
        self.address = self.instance.address
        self.port = PORT
        self.db_name = args.db_name
        self.username = args.username
        self.master_secret_arn = self.instance.master_user_secrets.apply(lambda secrets: secrets[0]["secret_arn"]
                                                                         if isinstance(secrets[0], dict)
                                                                         else secrets[0].secret_arn)
        self.register_outputs({"address": self.address})


def existing_storage_key(identifier: str) -> str | None:
    """The KMS key ARN an existing instance named ``identifier`` encrypts its storage with ("" for an
    unencrypted one); None when no such instance exists (a new stack). Looked up in AWS during every
    preview and update."""
    found = aws.rds.get_instances(filters=[aws.rds.GetInstancesFilterArgs(name="db-instance-id", values=[identifier])])
    if not found.instance_identifiers:
        return None
    instance = aws.rds.get_instance(db_instance_identifier=identifier)
    return (instance.kms_key_id or "") if instance.storage_encrypted else ""


def storage_key_refusal(identifier: str, key_option: str, wants_stack_key: bool,
                        is_customer_managed: Callable[[str], bool]) -> str | None:
    """Why the program must stop before touching the database, or None.

    RDS encrypts storage with the key chosen at creation and cannot change it (kms_key_id forces a new
    instance), and the fixed identifier makes that replacement collide ("DBInstanceAlreadyExists")
    after the rest of the stack has moved. So a key choice that differs from the existing instance's
    is refused in preview, in one line, before any resource changes. ``is_customer_managed`` tells a
    customer-managed key from an AWS-managed one (KMS DescribeKey's KeyManager; kms.py).
    """
    existing_key = existing_storage_key(identifier)
    if existing_key is None:
        return None
    customer_managed = is_customer_managed(existing_key) if existing_key else None
    if customer_managed == wants_stack_key:
        return None
    has = {True: "encrypted its storage with a customer-managed key", False: "encrypted its storage with the "
           "AWS-managed key aws/rds", None: "created it without storage encryption"}[customer_managed]
    way_back = f"set {key_option} back to {str(customer_managed).lower()}, or " if customer_managed is not None else ""
    return (f"{key_option} = {str(wants_stack_key).lower()} cannot apply to the existing database {identifier}: RDS "
            f"{has} when it was created and cannot change that, and replacing it would collide with its fixed "
            f"identifier; {way_back}migrate the data by snapshot and restore (docs/stack-config.md, \"Changing "
            "keel:kmsKey on an existing stack\")")


def final_snapshot_name(name: str, identifier: str, parent: pulumi.Resource) -> pulumi.Output[str]:
    """``<identifier>-final-<8 hex>``: a name no earlier deletion used.

    RDS refuses a final snapshot whose name exists (DBSnapshotAlreadyExists), and the deleted
    instance's last snapshot is kept on purpose, so a fixed name would make the second destroy of a
    re-created stack fail. The suffix is drawn once when the instance's stack creates it and kept in
    Pulumi state (pulumi-random's RandomId: a new value only on creation or when ``keepers`` change),
    so every preview and update shows the same name, and a re-created stack draws a new one.
    """
    suffix = random.RandomId(f"{name}-final-snapshot", byte_length=4, prefix=f"{identifier}-final-",
                             keepers={"identifier": identifier}, opts=child(parent))
    return suffix.hex


def connection_url(database: Database) -> pulumi.Output[str]:
    """DATABASE_URL without a password: user@host:port/db?sslmode=require.

    The password stays in RDS's managed secret (never in Pulumi state); the app reads it from
    DATABASE_SECRET_ARN. Kept secret all the same: the URL names the database's host and user.
    """
    return pulumi.Output.secret(database.address.apply(
        lambda address: urls.postgres_url(database.username, None, address, PORT, database.db_name)))
