"""RDS PostgreSQL rules (RDS-01..RDS-16) on ``aws:rds/instance:Instance``."""

from __future__ import annotations

from keel_policy.model import Finding, Resource, Stack, as_list, is_false, is_true, number
from keel_policy.network import public_subnets_named
from keel_policy.registry import (
    ALL,
    CRITICAL,
    HIGH,
    LOW,
    MEDIUM,
    OPT,
    PROD,
    Context,
    resource_rule,
    stack_rule,
)

DB = "rds:Instance"
CA_CERTS = ("rds-ca-rsa2048-g1", "rds-ca-rsa4096-g1", "rds-ca-ecc384-g1")
MONITORING_INTERVALS = (1, 5, 10, 15, 30, 60)


@resource_rule("RDS-01", "storageEncrypted is true",
               "FSBP RDS.3; AWSGuard rds-storage-encrypted; CKV_AWS_16; PCP aws-rds-instance-disallow-unencrypted-storage",
               ALL, HIGH, (DB,))
def storage_encrypted(db: Resource, ctx: Context):
    if not is_true(db.props.get("storageEncrypted")):
        yield Finding("storageEncrypted is not true (the AWS default is unencrypted)")


@stack_rule("RDS-02", "Not publicly accessible, in a subnet group of private subnets only",
            "FSBP RDS.2, RDS.18; AWSGuard rds-instance-public-access; CKV_AWS_17; "
            "PCP aws-rds-instance-disallow-public-access", ALL, CRITICAL, (DB,))
def not_public(stack: Stack, ctx: Context):
    for db in stack.of(DB):
        if is_true(db.props.get("publiclyAccessible")):
            yield Finding("publiclyAccessible is true", db)
        groups = stack.referenced(db, "dbSubnetGroupName", db.props.get("dbSubnetGroupName"), "rds:SubnetGroup")
        if not db.props.get("dbSubnetGroupName"):
            yield Finding("no dbSubnetGroupName: the instance would land in the default VPC", db)
        for group in groups:
            public = public_subnets_named(stack, group, "subnetIds", group.props.get("subnetIds"))
            if public:
                yield Finding(f"subnet group {group.name} holds public subnets {[s.name for s in public]}", db)


@resource_rule("RDS-03", "multiAz is true", "FSBP RDS.5; AWSGuard rds-instance-multi-az-enabled; CKV_AWS_157",
               PROD, MEDIUM, (DB,))
def multi_az(db: Resource, ctx: Context):
    if not is_true(db.props.get("multiAz")):
        yield Finding("multiAz is not true")


@resource_rule("RDS-04", "backupRetentionPeriod is at least 1 day (absent = AWS's 1 day)",
               "FSBP RDS.11; AWSGuard rds-instance-backup-enabled; CKV_AWS_133; "
               "PCP aws-rds-instance-enable-backup-retention", ALL, HIGH, (DB,))
def backups(db: Resource, ctx: Context):
    days = number(db.props.get("backupRetentionPeriod"))
    if days is not None and not 1 <= days <= 35:
        yield Finding(f"backupRetentionPeriod is {days:g}; keep 1..35 days")


@resource_rule("RDS-04-PROD", "backupRetentionPeriod is at least 7 days in prod (RDS-04 caps it at 35)",
               "FSBP RDS.11 (>= 7); CKV_AWS_133", PROD, HIGH, (DB,))
def backups_prod(db: Resource, ctx: Context):
    days = number(db.props.get("backupRetentionPeriod"))
    if days is None or days < 7:
        yield Finding(f"backupRetentionPeriod is {'absent (1 day)' if days is None else f'{days:g}'}; "
                      "prod keeps at least 7 days")


@resource_rule("RDS-05", "deletionProtection is true, with a final snapshot (skipFinalSnapshot not true, "
               "finalSnapshotIdentifier set)", "FSBP RDS.8; CKV_AWS_293", PROD, HIGH, (DB,))
def deletion_protection(db: Resource, ctx: Context):
    if not is_true(db.props.get("deletionProtection")):
        yield Finding("deletionProtection is not true")
    if is_true(db.props.get("skipFinalSnapshot")) or not db.props.get("finalSnapshotIdentifier"):
        yield Finding("no final snapshot: set skipFinalSnapshot=false and a finalSnapshotIdentifier")


@resource_rule("RDS-06", "enabledCloudwatchLogsExports includes postgresql and upgrade",
               "FSBP RDS.9, RDS.36; CKV_AWS_129", PROD, MEDIUM, (DB,))
def log_exports(db: Resource, ctx: Context):
    missing = {"postgresql", "upgrade"} - set(as_list(db.props.get("enabledCloudwatchLogsExports")))
    if missing:
        yield Finding(f"enabledCloudwatchLogsExports lacks {sorted(missing)}")


@stack_rule("RDS-07", "TLS is enforced: a custom parameter group sets rds.force_ssl=1", "CKV2_AWS_69", ALL, HIGH,
            (DB,))
def force_ssl(stack: Stack, ctx: Context):
    for db in stack.of(DB):
        groups = stack.referenced(db, "parameterGroupName", db.props.get("parameterGroupName"), "rds:ParameterGroup")
        forced = [g for g in groups if any(p.get("name") == "rds.force_ssl" and str(p.get("value")) == "1"
                                           for p in as_list(g.props.get("parameters")))]
        if not forced:
            yield Finding("no parameter group from this stack with rds.force_ssl=1", db)


@resource_rule("RDS-08", "autoMinorVersionUpgrade is not false", "FSBP RDS.13; CKV_AWS_226", ALL, LOW, (DB,))
def minor_upgrades(db: Resource, ctx: Context):
    if is_false(db.props.get("autoMinorVersionUpgrade")):
        yield Finding("autoMinorVersionUpgrade is false")


@resource_rule("RDS-09", "Enhanced monitoring: monitoringInterval in 1/5/10/15/30/60 with a monitoringRoleArn",
               "FSBP RDS.6; CKV_AWS_118", PROD, LOW, (DB,))
def enhanced_monitoring(db: Resource, ctx: Context):
    if number(db.props.get("monitoringInterval")) not in MONITORING_INTERVALS or not db.props.get("monitoringRoleArn"):
        yield Finding("set monitoringInterval (1, 5, 10, 15, 30 or 60) and monitoringRoleArn")


@resource_rule("RDS-10", "Performance Insights enabled and encrypted with a customer-managed key",
               "CKV_AWS_353, CKV_AWS_354; PCP aws-rds-instance-enable-performance-insights, "
               "-disallow-unencrypted-performance-insights", PROD, LOW, (DB,))
def performance_insights(db: Resource, ctx: Context):
    if not is_true(db.props.get("performanceInsightsEnabled")) or not db.props.get("performanceInsightsKmsKeyId"):
        yield Finding("set performanceInsightsEnabled=true and performanceInsightsKmsKeyId")


@resource_rule("RDS-11", "copyTagsToSnapshot is true", "FSBP RDS.17; CKV2_AWS_60", ALL, LOW, (DB,))
def copy_tags(db: Resource, ctx: Context):
    if not is_true(db.props.get("copyTagsToSnapshot")):
        yield Finding("copyTagsToSnapshot is not true")


@resource_rule("RDS-12", "The master user name is set and is not the engine default (postgres)", "FSBP RDS.25",
               ALL, MEDIUM, (DB,))
def custom_username(db: Resource, ctx: Context):
    username = db.props.get("username")
    if not username or str(username).lower() == "postgres":
        yield Finding(f"username is {username!r}; choose a non-default master user name")


@resource_rule("RDS-13", "No plaintext password input: manageMasterUserPassword=true (RDS keeps and rotates it in "
               "Secrets Manager)", "intent of FSBP SecretsManager.1/.4 and ECS.8", ALL, CRITICAL, (DB,))
def managed_password(db: Resource, ctx: Context):
    if db.props.get("password"):
        yield Finding("a password input is set (it lands in the state); use manageMasterUserPassword=true")
    if not is_true(db.props.get("manageMasterUserPassword")):
        yield Finding("manageMasterUserPassword is not true")


@resource_rule("RDS-14", "caCertIdentifier is a current CA (rds-ca-rsa2048-g1, rds-ca-rsa4096-g1, rds-ca-ecc384-g1)",
               "CKV_AWS_211", ALL, MEDIUM, (DB,))
def ca_cert(db: Resource, ctx: Context):
    if db.props.get("caCertIdentifier") not in CA_CERTS:
        yield Finding(f"caCertIdentifier is {db.props.get('caCertIdentifier')!r}; set one of {CA_CERTS}")


@resource_rule("RDS-15", "iamDatabaseAuthenticationEnabled is true", "FSBP RDS.10; CKV_AWS_161", OPT, LOW, (DB,))
def iam_auth(db: Resource, ctx: Context):
    if not is_true(db.props.get("iamDatabaseAuthenticationEnabled")):
        yield Finding("IAM database authentication is off", exception="RDS-PASSWORD-AUTH")


@resource_rule("RDS-16", "The database does not listen on the default port 5432", "FSBP RDS.23", OPT, LOW, (DB,))
def custom_port(db: Resource, ctx: Context):
    if number(db.props.get("port")) in (None, 5432):
        yield Finding("port is 5432", exception="RDS-DEFAULT-PORT")
