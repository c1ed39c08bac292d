"""The stack's typed configuration: presets per stack, overrides from `pulumi config`, validation.

Every value has a preset per stack kind (dev, staging, prod) trading cost for safety; each can be
overridden with ``pulumi config set keel:<key> <value>`` (process sizes as objects, e.g.
``pulumi config set --path keel:web.count 3``). The program validates everything before it
creates a single resource and stops with one line per problem naming the key, the bad value and
what is allowed.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

from keel import contract, variables
from keel.aws_identity import AwsIdentity

PRESETS = ("dev", "staging", "prod")
PROCESS_KEYS = ("web", "worker", "beat", "release")

# AWS Fargate task sizes: CPU units -> allowed memory (MiB).
FARGATE_MEMORY: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4097, 1024)),
    1024: tuple(range(2048, 8193, 1024)),
    2048: tuple(range(4096, 16385, 1024)),
    4096: tuple(range(8192, 30721, 1024)),
    8192: tuple(range(16384, 61441, 4096)),
    16384: tuple(range(32768, 122881, 8192)),
}
# CloudWatch Logs' accepted retentionInDays values (0 = never expire is deliberately excluded:
# every log group states how long it keeps data).
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827,
                      2192, 2557, 2922, 3288, 3653)
# "none": tasks in public subnets with public IPs (dev-class stacks only; docs/operations.md, policy DEV-PUBLIC-TASKS).
NAT_MODES = ("none", "single", "perAz")
ARCHITECTURES = ("x86_64", "arm64")  # Fargate's cpuArchitecture X86_64 / ARM64 (Graviton)
SPOT_PROCESSES = ("web", "worker")  # beat (a singleton) and release (the gate) stay on-demand
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$", re.IGNORECASE)
SNS_ARN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$")
RDS_INSTANCE_CLASS = re.compile(r"^db\.[a-z][a-z0-9-]*\.[a-z0-9]+$")
CACHE_NODE_TYPE = re.compile(r"^cache\.[a-z][a-z0-9-]*\.[a-z0-9]+$")
# Performance Insights is not offered on these sizes.
NO_PERFORMANCE_INSIGHTS = re.compile(r"^db\.t[234]g?\.(micro|small)$")
DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
ACM_ARN = re.compile(r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[0-9a-f-]{36}$")
HOSTED_ZONE_ID = re.compile(r"^Z[A-Z0-9]{1,31}$")
REGION = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
# Regions outside the `aws` partition: their ARNs start arn:aws-us-gov / arn:aws-cn and their service
# endpoints and principals differ, while the stack writes arn:aws and amazonaws.com (IAM policies, key policy).
OTHER_PARTITION_REGIONS = ("us-gov-", "cn-")
CIDR16 = re.compile(r"^10\.(\d{1,3})\.0\.0/16$")
POSTGRES_ENGINE_VERSION = re.compile(r"^(1[6-9])(\.\d+)?$")
CACHE_ENGINES = ("valkey", "redis")
CACHE_ENGINE_VERSION = re.compile(r"^(7|8)\.\d+$")
# Resource names start with "<project>-<stack>": S3, RDS and ElastiCache accept only lower-case letters,
# digits and hyphens, and "<prefix>-cache-cmk" must fit ElastiCache's 40 characters.
NAME_PREFIX = re.compile(r"^[a-z][a-z0-9-]{0,27}$")


class StackConfigError(Exception):
    """Bad stack configuration: ``messages`` holds one line per problem."""

    def __init__(self, messages: list[str]) -> None:
        self.messages = list(messages)
        super().__init__("invalid stack configuration:\n  " + "\n  ".join(self.messages))


@dataclass(frozen=True)
class ProcessSize:
    """One process type's size and scaling. Fargate CPU units / MiB; counts are tasks."""

    cpu: int
    memory: int
    count: int = 1  # desired tasks at deploy time
    min_count: int = 1  # autoscaling floor
    max_count: int = 1  # autoscaling ceiling (== min_count: autoscaling off)
    cpu_target: int = 60  # target average CPU %, for autoscaling
    requests_per_target: int = 1000  # web only: ALB requests per target per minute
    backlog_per_task: int = 10  # worker only: waiting Celery tasks per running worker, for autoscaling
    spot: int = 0  # Fargate Spot weight beyond the on-demand base (0: on-demand only); web and worker
    on_demand_base: int = 1  # tasks that always run on-demand FARGATE when spot > 0

    @property
    def autoscaling(self) -> bool:
        return self.max_count > self.min_count

    def spot_tasks(self, count: int) -> float:
        """How many of ``count`` tasks ECS places on FARGATE_SPOT under the capacity-provider strategy:
        the base on FARGATE, the rest split by weight (1 on-demand : ``spot``)."""
        if not self.spot:
            return 0.0
        beyond = max(0, count - self.on_demand_base)
        return beyond * self.spot / (self.spot + 1)


@dataclass(frozen=True)
class AlarmThresholds:
    """What pages (keel:alarmThresholds, each field overridable). Rates are per cent of requests."""

    alb_5xx_percent: float = 5  # 5xx the load balancer itself returns (no healthy target, timeouts)
    target_5xx_percent: float = 5  # 5xx the app returns
    min_requests: int = 50  # per 5 minutes: below this a rate or p99 alarm stays quiet (nights)
    p99_seconds: float = 2  # target response time, 99th percentile
    unhealthy_hosts: int = 1  # targets failing health checks, for 5 minutes
    cpu_percent: float = 85  # web and worker, average; with autoscaling only when at maxCount too
    memory_percent: float = 90  # web and worker, average
    db_cpu_percent: float = 85
    db_free_storage_gib: float = 2  # below this RDS is close to full (autoscaling has a ceiling)
    db_connections: int = 70  # about 80 % of max_connections of the instance class
    db_freeable_memory_mib: int = 64
    cache_memory_percent: float = 80  # DatabaseMemoryUsagePercentage; noeviction refuses writes at 100
    cache_cpu_percent: float = 80  # EngineCPUUtilization
    queue_depth: int = 100  # waiting Celery tasks, pages only when the worker is also at maxCount
    oldest_task_seconds: int = 600  # age of the oldest waiting Celery task
    error_lines: int = 10  # ERROR/CRITICAL log lines per process per 5 minutes


@dataclass(frozen=True)
class StackConfig:
    """Everything the program needs to know, validated. Defaults come from the preset."""

    stack: str
    preset: str
    project: str
    region: str
    profile: str | None
    # Public entry point
    domain: str | None
    certificate_arn: str | None
    hosted_zone_id: str | None
    # Network
    vpc_cidr: str
    az_count: int
    nat_gateways: str
    flow_logs: bool
    vpc_endpoints: bool  # interface endpoints for ECR, Logs, Secrets Manager (the S3 gateway comes along)
    # Processes
    processes: dict[str, ProcessSize]
    log_retention_days: int
    log_bucket_expiration_days: int  # ALB/S3 access logs and flow logs in the log bucket (S3 lifecycle)
    exec_enabled: bool
    release_timeout_minutes: int
    deploy_timeout_minutes: int
    # Load balancer
    alb_deletion_protection: bool
    alb_access_logs: bool
    waf: bool  # AWS WAF with AWS's managed baseline rules on the load balancer
    # Database
    db_instance_class: str
    db_engine_version: str
    db_allocated_storage: int
    db_max_allocated_storage: int
    db_backup_retention_days: int
    db_multi_az: bool
    db_deletion_protection: bool
    db_final_snapshot: bool  # a final snapshot when the instance is deleted, independent of protectData
    db_performance_insights: bool
    db_monitoring_interval: int
    # Cache and broker
    cache_engine: str
    cache_engine_version: str
    cache_node_type: str
    cache_replicas: int
    cache_snapshot_retention_days: int
    # Media
    media_versioning: bool
    media_access_logs: bool
    # Encryption at rest with a customer-managed KMS key (secrets, logs, media, cache, PI).
    kms_key: bool
    # Data safety: Pulumi `protect` on stateful resources, secret recovery window.
    protect_data: bool
    secret_recovery_days: int
    # Operations: alarms to an SNS topic, a dashboard, Celery's queue as a metric; CPU architecture.
    alarms: bool = True
    dashboard: bool = True
    queue_metrics: bool = True
    architecture: str = "x86_64"
    alarm_email: str | None = None  # subscribed to the stack's topic (confirm the e-mail AWS sends)
    alarm_topic_arn: str | None = None  # an existing SNS topic instead of the stack's own
    alarm_thresholds: AlarmThresholds = field(default_factory=AlarmThresholds)
    # Attach existing backing services (secret config values) instead of creating them.
    database_url: str | None = None
    redis_url: str | None = None
    django_secret_key: str | None = None
    django_secret_key_fallbacks: str | None = None  # previous keys, comma separated, while rotating
    # The app's own settings (keel/variables.py): plain variables, secrets, outgoing mail.
    env: dict[str, str] = field(default_factory=dict)
    # Maintenance mode (docs/maintenance.md): "off", "on" (the site answers a 503 page, worker and beat
    # keep running) or "full" (worker and beat stop too); CIDRs that still reach the app.
    maintenance: str = "off"
    maintenance_allow: tuple[str, ...] = ()
    # A pinned image (docs/delivery.md): deploy exactly this digest from the stack's own repository
    # instead of building (`keel promote` sets both), and the git revision it was built from.
    image: str | None = None
    image_revision: str | None = None
    user_secrets: dict[str, str] = field(default_factory=dict)  # name -> value, stored in Secrets Manager
    email: variables.Email | None = None
    # An attached database's rotating secret (RDS-managed): the app reads its password there.
    database_secret_arn: str | None = None
    # Allowed but risky choices, reported by the program as Pulumi warnings.
    warnings: tuple[str, ...] = ()
    # The pulumi-aws provider's identity settings (aws:region, aws:profile, aws:assumeRoles, ...):
    # the release gate and deploy check act as the same identity (keel.aws_identity).
    aws_identity: AwsIdentity = field(default_factory=AwsIdentity)

    @property
    def https(self) -> bool:
        return self.domain is not None

    @property
    def creates_database(self) -> bool:
        return self.database_url is None

    @property
    def creates_cache(self) -> bool:
        return self.redis_url is None

    @property
    def running_sizes(self) -> dict[str, ProcessSize]:
        """The process sizes to run now: in full maintenance worker and beat stop (no task, no scaling)."""
        if self.maintenance != "full":
            return self.processes
        return {p: replace(size, count=0, min_count=0, max_count=0) if p in ("worker", "beat") else size
                for p, size in self.processes.items()}

    @property
    def image_platform(self) -> str:
        """The image's build platform for the task definitions' cpuArchitecture."""
        return "linux/arm64" if self.architecture == "arm64" else "linux/amd64"

    @property
    def cpu_architecture(self) -> str:
        return "ARM64" if self.architecture == "arm64" else "X86_64"

    @property
    def metrics_namespace(self) -> str:
        """The CloudWatch namespace of the stack's own metrics (queue, beat heartbeat, ERROR lines)."""
        return f"{self.project}/{self.stack}"

    @property
    def name_prefix(self) -> str:
        """Prefix of physical names: readable in the console, unique per project and stack."""
        return f"{self.project}-{self.stack}"

    @property
    def repository_name(self) -> str:
        return repository_name(self.name_prefix, self.kms_key)


def repository_name(name_prefix: str, kms_key: bool) -> str:
    """The stack's ECR repository: ``<prefix>``, or ``<prefix>-cmk`` when keel:kmsKey encrypts its images.

    ECR fixes a repository's encryption at creation (encryption_configuration forces a new repository)
    and Pulumi creates the replacement before deleting the old one: with one name for both choices,
    turning keel:kmsKey on or off would fail with "RepositoryAlreadyExistsException". The new name also
    renames the image, so pulumi-docker pushes it into the new repository before the tasks move there.
    """
    return f"{name_prefix}-cmk" if kms_key else name_prefix


def _process_presets(preset: str) -> dict[str, ProcessSize]:
    if preset == "prod":
        return {
            "web": ProcessSize(cpu=1024, memory=2048, count=2, min_count=2, max_count=10, cpu_target=60,
                               requests_per_target=1000),
            "worker": ProcessSize(cpu=1024, memory=2048, count=2, min_count=2, max_count=8, cpu_target=60,
                              backlog_per_task=10),
            "beat": ProcessSize(cpu=256, memory=512),
            "release": ProcessSize(cpu=512, memory=1024),
        }
    if preset == "staging":
        return {
            "web": ProcessSize(cpu=512, memory=1024, count=1, min_count=1, max_count=3, cpu_target=70),
            # Spot: one worker always on-demand, the rest three to one on Spot (soft shutdown requeues).
            "worker": ProcessSize(cpu=512, memory=1024, count=1, min_count=1, max_count=2, cpu_target=70,
                                  spot=3, on_demand_base=1),
            "beat": ProcessSize(cpu=256, memory=512),
            "release": ProcessSize(cpu=512, memory=1024),
        }
    return {
        "web": ProcessSize(cpu=256, memory=512, count=1, min_count=1, max_count=1),
        # Scales to zero when the queue is empty and back up when a task waits; all on Spot.
        "worker": ProcessSize(cpu=256, memory=512, count=1, min_count=0, max_count=2, spot=1, on_demand_base=0),
        "beat": ProcessSize(cpu=256, memory=512),
        "release": ProcessSize(cpu=256, memory=512),
    }


# The preset values of every scalar key, by config key. Comments give the reason per preset.
PRESET_VALUES: dict[str, dict[str, Any]] = {
    "dev": dict(
        vpcCidr="10.10.0.0/16", azCount=2, natGateways="none", flowLogs=False, vpcEndpoints=False,
        logRetentionDays=14, logBucketExpirationDays=30, execEnabled=True, releaseTimeoutMinutes=30, deployTimeoutMinutes=20,
        albDeletionProtection=False, albAccessLogs=False, waf=False,
        dbInstanceClass="db.t4g.micro", dbEngineVersion="16", dbAllocatedStorage=20, dbMaxAllocatedStorage=50,
        dbBackupRetentionDays=1, dbMultiAz=False, dbDeletionProtection=False, dbFinalSnapshot=False, dbPerformanceInsights=False,
        dbMonitoringInterval=0,
        cacheEngine="valkey", cacheEngineVersion="8.0", cacheNodeType="cache.t4g.micro", cacheReplicas=0,
        cacheSnapshotRetentionDays=0,
        mediaVersioning=False, mediaAccessLogs=False, kmsKey=False, protectData=False, secretRecoveryDays=0,
        alarms=True, dashboard=True, queueMetrics=True, architecture="x86_64",
    ),
    "staging": dict(
        vpcCidr="10.20.0.0/16", azCount=2, natGateways="single", flowLogs=False, vpcEndpoints=False,
        logRetentionDays=30, logBucketExpirationDays=90, execEnabled=True, releaseTimeoutMinutes=60, deployTimeoutMinutes=30,
        albDeletionProtection=False, albAccessLogs=False, waf=False,
        dbInstanceClass="db.t4g.small", dbEngineVersion="16", dbAllocatedStorage=20, dbMaxAllocatedStorage=100,
        dbBackupRetentionDays=3, dbMultiAz=False, dbDeletionProtection=False, dbFinalSnapshot=True, dbPerformanceInsights=False,
        dbMonitoringInterval=0,
        cacheEngine="valkey", cacheEngineVersion="8.0", cacheNodeType="cache.t4g.small", cacheReplicas=0,
        cacheSnapshotRetentionDays=1,
        mediaVersioning=True, mediaAccessLogs=False, kmsKey=False, protectData=False, secretRecoveryDays=7,
        alarms=True, dashboard=True, queueMetrics=True, architecture="x86_64",
    ),
    "prod": dict(
        vpcCidr="10.30.0.0/16", azCount=3, natGateways="perAz", flowLogs=True, vpcEndpoints=True,
        logRetentionDays=365, logBucketExpirationDays=365, execEnabled=False, releaseTimeoutMinutes=60, deployTimeoutMinutes=30,
        albDeletionProtection=True, albAccessLogs=True, waf=True,
        dbInstanceClass="db.m7g.large", dbEngineVersion="16", dbAllocatedStorage=50, dbMaxAllocatedStorage=200,
        dbBackupRetentionDays=14, dbMultiAz=True, dbDeletionProtection=True, dbFinalSnapshot=True, dbPerformanceInsights=True,
        dbMonitoringInterval=60,
        cacheEngine="valkey", cacheEngineVersion="8.0", cacheNodeType="cache.m7g.large", cacheReplicas=1,
        cacheSnapshotRetentionDays=7,
        mediaVersioning=True, mediaAccessLogs=True, kmsKey=True, protectData=True, secretRecoveryDays=30,
        alarms=True, dashboard=True, queueMetrics=True, architecture="x86_64",
    ),
}
SCALAR_KEYS = tuple(PRESET_VALUES["dev"])
ENTRY_KEYS = ("preset", "domain", "certificateArn", "hostedZoneId", "env", "email", "databaseSecretArn",
              "alarmEmail", "alarmTopicArn", "alarmThresholds")
SECRET_KEYS = ("databaseUrl", "redisUrl", "djangoSecretKey", "djangoSecretKeyFallbacks", "secrets")
MAINTENANCE_KEYS = ("maintenance", "maintenanceAllow")
IMAGE_KEYS = ("image", "imageRevision")
KNOWN_KEYS = SCALAR_KEYS + ENTRY_KEYS + SECRET_KEYS + PROCESS_KEYS + MAINTENANCE_KEYS + IMAGE_KEYS
PROCESS_FIELDS = {"cpu": "cpu", "memory": "memory", "count": "count", "minCount": "min_count",
                  "maxCount": "max_count", "cpuTarget": "cpu_target", "requestsPerTarget": "requests_per_target",
                  "backlogPerTask": "backlog_per_task", "spot": "spot", "onDemandBase": "on_demand_base"}
# Alarm thresholds per preset: dev pages late (a developer's stack), prod early.
ALARM_PRESETS = {
    "dev": AlarmThresholds(p99_seconds=3, db_connections=60, queue_depth=200, oldest_task_seconds=1800,
                           error_lines=20),
    "staging": AlarmThresholds(p99_seconds=3, db_connections=130, db_freeable_memory_mib=128,
                               oldest_task_seconds=900),
    "prod": AlarmThresholds(db_free_storage_gib=10, db_connections=600, db_freeable_memory_mib=512,
                            queue_depth=500, oldest_task_seconds=300),
}
THRESHOLD_FIELDS = {re.sub(r"_([a-z0-9])", lambda m: m.group(1).upper(), name): name
                    for name in AlarmThresholds.__dataclass_fields__}


def _snake(key: str) -> str:
    return re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), key)


class _Reader:
    """Parses raw config strings into typed values, collecting one message per problem."""

    def __init__(self, raw: dict[str, str], project: str) -> None:
        self.raw = raw
        self.project = project
        self.errors: list[str] = []

    def key(self, name: str) -> str:
        return f"{self.project}:{name}"

    def fail(self, key: str, value: Any, allowed: str) -> None:
        self.errors.append(f"{key} = {value!r} is invalid: allowed {allowed}")

    def as_bool(self, key: str, value: Any) -> bool | None:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "false"):
            return text == "true"
        self.fail(key, value, "true or false")
        return None

    def as_int(self, key: str, value: Any, low: int, high: int) -> int | None:
        try:
            number = int(str(value).strip()) if not isinstance(value, bool) else None
        except ValueError:
            number = None
        if number is None or not low <= number <= high:
            self.fail(key, value, f"a whole number from {low} to {high}")
            return None
        return number

    def as_choice(self, key: str, value: Any, choices: tuple) -> Any:
        if value in choices:
            return value
        self.fail(key, value, "one of " + ", ".join(str(c) for c in choices))
        return None

    def as_pattern(self, key: str, value: Any, pattern: re.Pattern, allowed: str) -> str | None:
        if isinstance(value, str) and pattern.match(value):
            return value
        self.fail(key, value, allowed)
        return None

    def as_object(self, key: str, value: str) -> dict | None:
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            parsed = None
        if not isinstance(parsed, dict):
            self.fail(key, value, "an object, e.g. `pulumi config set --path " + key + ".<field> <value>`")
            return None
        return parsed

    def known_fields(self, name: str, text: str | None, fields: Mapping[str, Any]) -> tuple[str, list] | None:
        """keel:NAME read as an object: its full key and the (field, value) pairs whose field is one of
        ``fields`` (each other field is reported); None where NAME is unset or not an object."""
        if text is None:
            return None
        key = self.key(name)
        obj = self.as_object(key, text)
        if obj is None:
            return None
        known = []
        for field_name, value in obj.items():
            if field_name in fields:
                known.append((field_name, value))
            else:
                self.fail(f"{key}.{field_name}", value, "fields " + ", ".join(fields))
        return key, known


SCALAR_RULES: dict[str, tuple] = {
    "vpcCidr": ("pattern", CIDR16, "a /16 of the form 10.N.0.0/16"),
    "azCount": ("int", 2, 3),
    "natGateways": ("choice", NAT_MODES),
    "flowLogs": ("bool",),
    "vpcEndpoints": ("bool",),
    "logRetentionDays": ("choice_int", LOG_RETENTION_DAYS),
    "logBucketExpirationDays": ("int", 1, 3650),
    "execEnabled": ("bool",),
    "releaseTimeoutMinutes": ("int", 1, 120),
    "deployTimeoutMinutes": ("int", 5, 120),
    "albDeletionProtection": ("bool",),
    "albAccessLogs": ("bool",),
    "waf": ("bool",),
    "dbInstanceClass": ("pattern", RDS_INSTANCE_CLASS, "an RDS instance class like db.t4g.micro or db.m7g.large"),
    "dbEngineVersion": ("pattern", POSTGRES_ENGINE_VERSION, "PostgreSQL 16 or newer, like 16 or 16.4"),
    "dbAllocatedStorage": ("int", 20, 65536),
    "dbMaxAllocatedStorage": ("int", 20, 65536),
    "dbBackupRetentionDays": ("int", 1, 35),
    "dbMultiAz": ("bool",),
    "dbDeletionProtection": ("bool",),
    "dbFinalSnapshot": ("bool",),
    "dbPerformanceInsights": ("bool",),
    "dbMonitoringInterval": ("choice_int", (0, 1, 5, 10, 15, 30, 60)),
    "cacheEngine": ("choice", CACHE_ENGINES),
    "cacheEngineVersion": ("pattern", CACHE_ENGINE_VERSION, "7.x or 8.x, like 7.1 or 8.0"),
    "cacheNodeType": ("pattern", CACHE_NODE_TYPE, "an ElastiCache node type like cache.t4g.micro"),
    "cacheReplicas": ("int", 0, 5),
    "cacheSnapshotRetentionDays": ("int", 0, 35),
    "mediaVersioning": ("bool",),
    "mediaAccessLogs": ("bool",),
    "kmsKey": ("bool",),
    "protectData": ("bool",),
    "secretRecoveryDays": ("choice_int", (0, *range(7, 31))),
    "alarms": ("bool",),
    "dashboard": ("bool",),
    "queueMetrics": ("bool",),
    "architecture": ("choice", ARCHITECTURES),
}


def _read_scalar(reader: _Reader, name: str, value: Any) -> Any:
    rule = SCALAR_RULES[name]
    key = reader.key(name)
    kind = rule[0]
    if kind == "bool":
        return reader.as_bool(key, value)
    if kind == "int":
        return reader.as_int(key, value, rule[1], rule[2])
    if kind == "choice":
        return reader.as_choice(key, value, rule[1])
    if kind == "choice_int":
        try:
            number = int(str(value))
        except ValueError:
            number = None
        if number in rule[1]:
            return number
        reader.fail(key, value, "one of " + ", ".join(str(c) for c in rule[1]))
        return None
    return reader.as_pattern(key, value, rule[1], rule[2])


def _read_process(reader: _Reader, name: str, base: ProcessSize, text: str | None) -> ProcessSize:
    read = reader.known_fields(name, text, PROCESS_FIELDS)
    if read is None:
        return base
    key, fields = read
    changes: dict[str, int] = {}
    for field_name, value in fields:
        limits = {"cpu": (256, 16384), "memory": (512, 122880), "count": (0, 100), "minCount": (0, 100),
                  "maxCount": (1, 100), "cpuTarget": (10, 95), "requestsPerTarget": (10, 100000),
                  "backlogPerTask": (1, 10000), "spot": (0, 10), "onDemandBase": (0, 100)}[field_name]
        number = reader.as_int(f"{key}.{field_name}", value, *limits)
        if number is not None:
            changes[PROCESS_FIELDS[field_name]] = number
    size = replace(base, **changes)
    # Setting only `count` moves the autoscaling range with it, unless min/max were given.
    if "count" in changes and not {"min_count", "max_count"} & set(changes):
        size = replace(size, min_count=min(size.min_count, size.count), max_count=max(size.max_count, size.count))
    return size


def _check_process(reader: _Reader, name: str, size: ProcessSize) -> None:
    key = reader.key(name)
    allowed = FARGATE_MEMORY.get(size.cpu)
    if allowed is None:
        reader.fail(f"{key}.cpu", size.cpu, "Fargate CPU units " + ", ".join(str(c) for c in FARGATE_MEMORY))
    elif size.memory not in allowed:
        # Every allowed value: a range with a step would suggest sizes Fargate refuses (1536 for cpu 256).
        reader.errors.append(f"{key}.memory = {size.memory} is invalid for cpu {size.cpu}: Fargate allows "
                             f"{', '.join(str(m) for m in allowed)} MiB")
    if name == "beat" and (size.count, size.min_count, size.max_count) != (1, 1, 1):
        reader.errors.append(
            f"{key}.count = {size.count} (min {size.min_count}, max {size.max_count}) is invalid: "
            "allowed exactly 1; two Celery beats would run every periodic task twice")
    if size.spot and name not in SPOT_PROCESSES:
        reader.errors.append(f"{key}.spot = {size.spot} is invalid: allowed only on web and worker; {name} stays "
                             "on-demand (beat is a singleton, release gates the deploy)")
    if name in ("web", "worker"):
        if size.min_count > size.max_count:
            reader.errors.append(f"{key}.minCount = {size.min_count} is invalid: allowed at most "
                                 f"maxCount ({size.max_count})")
        if not size.min_count <= size.count <= size.max_count:
            reader.errors.append(f"{key}.count = {size.count} is invalid: allowed from minCount "
                                 f"({size.min_count}) to maxCount ({size.max_count})")


# The load balancer's rule conditions take at most five values in all (ELB quotas, "Condition values
# per rule"): the allow list is one source-ip condition.
MAX_MAINTENANCE_ALLOW = 5
MAINTENANCE_MODES = {"false": "off", "true": "on", "full": "full"}


# An image in ECR by digest: ACCOUNT.dkr.ecr.REGION.amazonaws.com[.cn]/REPOSITORY@sha256:HEX.
ECR_IMAGE_BY_DIGEST = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(\.cn)?/(?P<repository>[a-z0-9._/-]+)"
    r"@sha256:[0-9a-f]{64}$")
GIT_REVISION = re.compile(r"^[0-9a-f]{7,40}(-dirty)?$")


def _read_image(reader: _Reader, ns: str, own: dict[str, str], region: str | None,
                repository: str) -> tuple[str | None, str | None]:
    """keel:image (a digest in this stack's own ECR repository) and keel:imageRevision."""
    image, revision = own.get("image") or None, own.get("imageRevision") or None
    if revision is not None and image is None:
        reader.errors.append(f"{ns}imageRevision = {revision!r} is set without {ns}image: remove it "
                             f"(`pulumi config rm {ns}imageRevision`), or pin an image with `keel promote`")
        revision = None
    elif revision is not None and not GIT_REVISION.match(revision):
        reader.fail(f"{ns}imageRevision", revision, "a git revision (7-40 hex digits, optionally -dirty)")
        revision = None
    if image is None:
        return None, revision
    found = ECR_IMAGE_BY_DIGEST.match(image)
    if found is None:
        reader.fail(f"{ns}image", image, "an ECR image by digest, ACCOUNT.dkr.ecr.REGION.amazonaws.com/"
                    f"{repository}@sha256:<64 hex digits> (a tag can move; `keel promote` pins the digest)")
        return None, revision
    if found["repository"] != repository or (region and found["region"] != region):
        reader.errors.append(
            f"{ns}image = {image!r} is invalid: allowed only this stack's repository {repository} in {region} (its "
            f"task execution role pulls from there): copy it with `keel promote --to <this stack>`")
        return None, revision
    return image, revision


def _read_maintenance(reader: _Reader, ns: str, own: dict[str, str]) -> tuple[str, tuple[str, ...]]:
    """("off" | "on" | "full", allowed CIDRs) from keel:maintenance and keel:maintenanceAllow."""
    raw = str(own.get("maintenance", "false")).strip().lower()
    mode = MAINTENANCE_MODES.get(raw)
    if mode is None:
        reader.fail(f"{ns}maintenance", own.get("maintenance"), "true, false or full (worker and beat stop too)")
        mode = "off"
    text = own.get("maintenanceAllow")
    if text is None:
        return mode, ()
    try:
        cidrs = json.loads(text)
    except json.JSONDecodeError:
        cidrs = None
    if isinstance(cidrs, list) and any(isinstance(c, str) and _is_cidr(c) and c.endswith("/0") for c in cidrs):
        reader.errors.append(f"{ns}maintenanceAllow = {text!r} is invalid: a /0 lets everyone through, so maintenance "
                             "would show nobody the page; allow your own networks, e.g. 203.0.113.7/32")
        return mode, ()
    if not isinstance(cidrs, list) or not all(isinstance(c, str) and _is_cidr(c) for c in cidrs) \
            or not 1 <= len(cidrs) <= MAX_MAINTENANCE_ALLOW:
        reader.fail(f"{ns}maintenanceAllow", text, f"a list of 1 to {MAX_MAINTENANCE_ALLOW} CIDRs, e.g. "
                    f"`pulumi config set --path '{ns}maintenanceAllow[0]' 203.0.113.7/32`")
        return mode, ()
    return mode, tuple(cidrs)


def _is_cidr(text: str) -> bool:
    try:
        ipaddress.ip_network(text, strict=True)
    except ValueError:
        return False
    return "/" in text


def _check_url(reader: _Reader, name: str, value: str | None, schemes: tuple[str, ...]) -> str | None:
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in schemes or not parts.hostname:
        # Never echo a credential: name the key and the scheme only.
        reader.errors.append(f"{reader.key(name)} = <secret, scheme {parts.scheme or 'missing'!r}> is invalid: "
                             f"allowed a URL with scheme {' or '.join(schemes)} and a host")
        return None
    return value


def load(raw: dict[str, str], stack: str, project: str = "keel", secret_keys=()) -> StackConfig:
    """Typed, validated config from raw ``{"keel:key": "string"}`` values (plus aws:region/profile).

    ``secret_keys``: the keys Pulumi marks secret (set with --secret; PULUMI_CONFIG_SECRET_KEYS).
    """
    reader = _Reader(raw, project)
    ns = f"{project}:"
    own = {k[len(ns):]: v for k, v in raw.items() if k.startswith(ns)}
    for name in sorted(set(own) - set(KNOWN_KEYS)):
        reader.errors.append(f"{ns}{name} is not a known key: allowed keys " + ", ".join(KNOWN_KEYS))

    preset = own.get("preset", stack if stack in PRESETS else None)
    if preset not in PRESETS:
        reader.fail(f"{ns}preset", preset, "one of " + ", ".join(PRESETS) + " (defaults to the stack name)")
        preset = "dev"

    region = _read_identity(reader, raw, stack, project)
    aws_identity, aws_problems = AwsIdentity.from_provider_config(raw)
    reader.errors.extend(aws_problems)

    values: dict[str, Any] = {}
    for name in SCALAR_KEYS:
        value = own.get(name, PRESET_VALUES[preset][name])
        values[_snake(name)] = _read_scalar(reader, name, value)

    processes = {}
    for name in PROCESS_KEYS:
        processes[name] = _read_process(reader, name, _process_presets(preset)[name], own.get(name))
        _check_process(reader, name, processes[name])

    domain, certificate_arn, hosted_zone_id = _read_entry_point(reader, ns, own, preset)

    database_url = _check_url(reader, "databaseUrl", own.get("databaseUrl") or None,
                              contract.BY_NAME["DATABASE_URL"].schemes)
    redis_url = _check_url(reader, "redisUrl", own.get("redisUrl") or None, contract.BY_NAME["REDIS_URL"].schemes)
    secret_key = own.get("djangoSecretKey") or None
    fallbacks = own.get("djangoSecretKeyFallbacks") or None
    _check_secret_keys(reader, ns, secret_key, fallbacks)
    env = variables.plain_env(ns, own.get("env"), reader.errors)
    user_secrets = variables.own_secrets(ns, own.get("secrets"), f"{ns}secrets" in secret_keys, reader.errors, env)
    email = variables.email(ns, own.get("email"), f"{ns}email" in secret_keys, region, domain, reader.errors)
    env.update(variables.from_address(ns, env, email, domain, reader.errors))
    database_secret_arn = variables.database_secret_arn(ns, own.get("databaseSecretArn"), database_url,
                                                        reader.errors)
    maintenance, maintenance_allow = _read_maintenance(reader, ns, own)
    image, image_revision = _read_image(reader, ns, own, raw.get("aws:region"),
                                        repository_name(f"{project}-{stack}", bool(values.get("kms_key"))))
    alarm_email = own.get("alarmEmail") or None
    if alarm_email is not None and not EMAIL.match(alarm_email):
        reader.fail(f"{ns}alarmEmail", alarm_email, "an e-mail address that receives the stack's alarms")
    alarm_topic_arn = own.get("alarmTopicArn") or None
    if alarm_topic_arn is not None and not SNS_ARN.match(alarm_topic_arn):
        reader.fail(f"{ns}alarmTopicArn", alarm_topic_arn,
                    "an SNS topic ARN like arn:aws:sns:eu-west-1:123456789012:alerts")
    thresholds = _read_thresholds(reader, ALARM_PRESETS[preset], own.get("alarmThresholds"))

    _check_relations(reader, ns, values)
    _check_operations(reader, ns, preset, values, processes)

    if reader.errors:
        raise StackConfigError(reader.errors)
    return StackConfig(
        warnings=_unencrypted_url_warnings(ns, database_url, redis_url) + variables.email_warnings(ns, email),
        stack=stack, preset=preset, project=project, region=region, profile=raw.get("aws:profile") or None,
        aws_identity=aws_identity,
        domain=domain, certificate_arn=certificate_arn, hosted_zone_id=hosted_zone_id, processes=processes,
        database_url=database_url, redis_url=redis_url, django_secret_key=secret_key,
        django_secret_key_fallbacks=fallbacks, env=env, user_secrets=user_secrets, email=email,
        database_secret_arn=database_secret_arn, maintenance=maintenance,
        maintenance_allow=maintenance_allow, image=image, image_revision=image_revision, alarm_email=alarm_email,
        alarm_topic_arn=alarm_topic_arn, alarm_thresholds=thresholds, **values,
    )


def _read_thresholds(reader: _Reader, base: AlarmThresholds, text: str | None) -> AlarmThresholds:
    """The preset's thresholds with the fields keel:alarmThresholds sets."""
    read = reader.known_fields("alarmThresholds", text, THRESHOLD_FIELDS)
    if read is None:
        return base
    key, fields = read
    changes: dict[str, float] = {}
    for name, value in fields:
        try:
            number = float(str(value))
        except ValueError:
            number = -1.0
        if number <= 0:
            reader.fail(f"{key}.{name}", value, "a number above 0")
            continue
        field_type = AlarmThresholds.__dataclass_fields__[THRESHOLD_FIELDS[name]].type
        changes[THRESHOLD_FIELDS[name]] = int(number) if field_type == "int" else number
    return replace(base, **changes)


def _check_operations(reader: _Reader, ns: str, preset: str, values: dict[str, Any],
                      processes: dict[str, ProcessSize]) -> None:
    """Spot, the architecture and the NAT mode that cannot go together."""
    if values.get("nat_gateways") == "none" and preset != "dev":
        reader.errors.append(f"{ns}natGateways = 'none' is invalid on a {preset} stack: allowed only with the dev "
                             "preset (tasks would run with public IPs); use single or perAz")
    on_spot = [name for name in SPOT_PROCESSES if processes[name].spot]
    if values.get("architecture") == "arm64" and on_spot:
        reader.errors.append(f"{ns}architecture = 'arm64' is invalid with {ns}{on_spot[0]}.spot = "
                             f"{processes[on_spot[0]].spot}: Fargate Spot runs only X86_64; set "
                             f"{ns}{on_spot[0]}.spot 0 or {ns}architecture x86_64")
    for name in SPOT_PROCESSES:
        size = processes[name]
        if size.min_count == 0 and name == "web":
            reader.errors.append(f"{ns}web.minCount = 0 is invalid: allowed 1 or more (nothing would serve "
                                 "requests; only worker scales to zero on its queue)")
    if processes["worker"].min_count == 0 and values.get("queue_metrics") is False:
        reader.errors.append(f"{ns}worker.minCount = 0 is invalid with {ns}queueMetrics = false: allowed only "
                             "with queue metrics (nothing else tells a stopped worker that tasks wait)")


def _read_identity(reader: _Reader, raw: dict[str, str], stack: str, project: str) -> str | None:
    """The region, after checking it and that project-stack makes valid AWS resource names."""
    if not NAME_PREFIX.match(f"{project}-{stack}") or "--" in f"{project}-{stack}":
        reader.errors.append(f"stack name {stack!r} (project {project!r}) is invalid for AWS resource names "
                             f"{project}-{stack}-...: allowed lower-case letters, digits and single hyphens, "
                             "at most 28 characters for project-stack")
    region = raw.get("aws:region")
    if region is None:
        reader.errors.append("aws:region is not set: allowed an AWS region, e.g. "
                             "`pulumi config set aws:region eu-west-1`")
    elif not REGION.match(region):
        reader.fail("aws:region", region, "an AWS region like eu-west-1")
    elif region.startswith(OTHER_PARTITION_REGIONS):
        reader.fail("aws:region", region, "a region of the standard AWS partition (arn:aws), like eu-west-1: "
                    "GovCloud (us-gov-*) and China (cn-*) regions are not supported yet")
    return region


def _read_entry_point(reader: _Reader, ns: str, own: dict[str, str], preset: str) -> tuple:
    """(domain, certificate ARN, hosted zone id): HTTPS needs a domain and a way to a certificate."""
    domain = own.get("domain") or None
    certificate_arn = own.get("certificateArn") or None
    hosted_zone_id = own.get("hostedZoneId") or None
    if domain is not None and not DOMAIN.match(domain):
        reader.fail(f"{ns}domain", domain, "a lower-case DNS name like app.example.com")
    if certificate_arn is not None and not ACM_ARN.match(certificate_arn):
        reader.fail(f"{ns}certificateArn", certificate_arn,
                    "an ACM certificate ARN like arn:aws:acm:eu-west-1:123456789012:certificate/<uuid>")
    if hosted_zone_id is not None and not HOSTED_ZONE_ID.match(hosted_zone_id):
        reader.fail(f"{ns}hostedZoneId", hosted_zone_id, "a Route 53 hosted zone id like Z0123456789ABCDEFGHIJ")
    if domain is not None and certificate_arn is None and hosted_zone_id is None:
        reader.errors.append(f"{ns}domain = {domain!r} has no certificate: allowed with {ns}certificateArn "
                             f"(an ACM certificate for it) or {ns}hostedZoneId (the stack requests and "
                             "validates one)")
    if domain is None and (certificate_arn or hosted_zone_id):
        reader.errors.append(f"{ns}certificateArn/{ns}hostedZoneId set without {ns}domain: allowed only "
                             "together with a domain")
    if domain is None and preset != "dev":
        reader.errors.append(f"{ns}domain is not set on a {preset} stack: allowed plain HTTP only on dev; "
                             f"set {ns}domain and {ns}hostedZoneId or {ns}certificateArn")
    return domain, certificate_arn, hosted_zone_id


def _check_secret_keys(reader: _Reader, ns: str, secret_key: str | None, fallbacks: str | None) -> None:
    """Django's signing keys (and the ones still accepted) are long and random; never echoed."""
    for name, keys in (("djangoSecretKey", [secret_key] if secret_key else []),
                       ("djangoSecretKeyFallbacks", fallbacks.split(",") if fallbacks else [])):
        for index, key in enumerate(keys):
            if len(key) < 50 or len(set(key)) < 5:
                which = f" (key {index + 1})" if name.endswith("Fallbacks") else ""
                reader.errors.append(f"{ns}{name} = <secret{which}, {len(key)} characters> is invalid: allowed at "
                                     "least 50 characters with at least 5 distinct ones (Django security.W009)")


def _unencrypted_url_warnings(ns: str, database_url: str | None, redis_url: str | None) -> tuple[str, ...]:
    """Attached services reached without TLS: allowed (a private network may be enough), but said."""
    found = []
    if database_url and "sslmode=" not in urlsplit(database_url).query:
        found.append(f"{ns}databaseUrl has no sslmode parameter: add ?sslmode=require (or verify-full) so the "
                     "connection to the database is encrypted")
    if redis_url and urlsplit(redis_url).scheme != "rediss":
        found.append(f"{ns}redisUrl uses redis://: use rediss://...?ssl_cert_reqs=required so the cache and "
                     "broker traffic is encrypted")
    return tuple(found)


def min_max_allocated_storage(allocated: int) -> int:
    """RDS refuses a storage-autoscaling ceiling less than 10 % above the allocated storage
    ("Invalid max storage size"; RDS User Guide, storage autoscaling)."""
    return -(-allocated * 11 // 10)  # ceil(allocated * 1.1)


def allowed_cache_version(engine: str, version: str) -> str | None:
    """Why ElastiCache has no ``engine`` ``version`` (the allowed versions), or None when it has."""
    major, minor = (int(part) for part in version.split("."))
    if engine == "valkey" and (major, minor) < (7, 2):
        return "Valkey starts at 7.2 (7.2 or 8.x)"
    if engine == "redis" and major != 7:
        return "Redis OSS on ElastiCache ends at 7.x (7.0 or 7.1); use valkey for 8.x"
    return None


def _check_relations(reader: _Reader, ns: str, values: dict[str, Any]) -> None:
    """Rules that tie two keys together."""
    allocated, maximum = values.get("db_allocated_storage"), values.get("db_max_allocated_storage")
    if allocated and maximum and maximum < min_max_allocated_storage(allocated):
        reader.errors.append(f"{ns}dbMaxAllocatedStorage = {maximum} is invalid: allowed at least "
                             f"{min_max_allocated_storage(allocated)} (10 % above {ns}dbAllocatedStorage = "
                             f"{allocated}, RDS's minimum for storage autoscaling)")
    engine, version = values.get("cache_engine"), values.get("cache_engine_version")
    if engine and version and allowed_cache_version(engine, version):
        reader.errors.append(f"{ns}cacheEngineVersion = {version!r} is invalid with {ns}cacheEngine = {engine!r}: "
                             f"allowed {allowed_cache_version(engine, version)}")
    instance_class = values.get("db_instance_class")
    if values.get("db_performance_insights") and instance_class and NO_PERFORMANCE_INSIGHTS.match(instance_class):
        reader.errors.append(f"{ns}dbPerformanceInsights = true is invalid with {ns}dbInstanceClass = "
                             f"{instance_class!r}: allowed on db.t*.medium and larger")


def stack_config_from_pulumi() -> StackConfig:
    """Load from the running Pulumi program's config (what `pulumi up` passes).

    A bad config raises a StackConfigError that is also a ``pulumi.RunError``, which Pulumi prints
    as its message alone: one line per problem, no traceback.
    """
    import pulumi
    from pulumi.runtime import config as runtime_config

    raw: dict[str, str] = {}
    raw.update(runtime_config.get_config_env())
    raw.update(runtime_config.CONFIG.get())
    project, stack = pulumi.get_project(), pulumi.get_stack()
    # The engine hands the program the keys set with --secret (an object with one secret value counts).
    secret_keys = [key for key in raw if runtime_config.is_config_secret(key)]
    try:
        cfg = load({k: v for k, v in raw.items() if isinstance(v, str)}, stack, project, secret_keys)
    except StackConfigError as error:
        raise _run_error_class()(error.messages) from None
    problems = [] if _under_mocks() else placeholder_problems(cfg)
    if problems:
        raise _run_error_class()(problems)
    return cfg


# The committed stack files carry example names (a template cannot know yours). They evaluate
# offline (tests, keel check), but a real preview or up would fail late, at certificate
# validation, after creating the network and the database: so it stops first.
EXAMPLE_VALUE = re.compile(r"(^|\.)example\.(com|net|org)$|EXAMPLE")


def placeholder_problems(cfg: StackConfig) -> list[str]:
    """One line per entry-point value that is still one of the committed examples."""
    ns = f"{cfg.project}:"
    values = (("domain", cfg.domain), ("hostedZoneId", cfg.hosted_zone_id), ("certificateArn", cfg.certificate_arn))
    return [f"{ns}{key} = {value!r} is the committed example: set your own with "
            f"`pulumi config set {ns}{key} ...` (or `pulumi config rm {ns}{key}`), see the README's AWS walk-through"
            for key, value in values if value and EXAMPLE_VALUE.search(value)]


def _under_mocks() -> bool:
    """Whether the program runs under Pulumi's unit-test mocks rather than a real engine."""
    from pulumi.runtime import settings
    from pulumi.runtime.mocks import MockMonitor

    return isinstance(settings.get_monitor(), MockMonitor)


@functools.cache
def _run_error_class() -> type[StackConfigError]:
    import pulumi

    class PulumiStackConfigError(StackConfigError, pulumi.RunError):
        """A StackConfigError Pulumi reports without a stack trace."""

    return PulumiStackConfigError
