"""The Keel stack: wiring only. Each AWS concept lives in a component under keel/components.

Data flows one way: stack config -> components -> environment contract -> task definitions.
"""

from pathlib import Path

import pulumi
import pulumi_aws as aws
from keel import contract, outputs, procfile, urls
from keel.components.alarms import Alarms, AlarmsArgs
from keel.components.autoscaling import ScalingArgs, ServiceScaling
from keel.components.cache import Cache, CacheArgs, replication_group_id
from keel.components.certificate import Certificate, CertificateArgs
from keel.components.cluster import Cluster, ClusterArgs
from keel.components.dashboard import Dashboard, DashboardArgs
from keel.components.database import (
    Database,
    DatabaseArgs,
    connection_url,
    log_group_names,
    storage_key_refusal,
)
from keel.components.deploy_check import DeployCheck, DeployCheckArgs
from keel.components.dns import Alias, AliasArgs, DkimRecords, DkimRecordsArgs
from keel.components.email import EmailIdentity, EmailIdentityArgs
from keel.components.endpoints import Endpoints, EndpointsArgs
from keel.components.events import EventAlerts, EventAlertsArgs
from keel.components.function import Function, FunctionArgs
from keel.components.iam import FunctionRole, RdsMonitoringRole, Roles, RolesArgs
from keel.components.image import Image, ImageArgs, source_revision
from keel.components.kms import Key, KeyArgs, is_customer_managed
from keel.components.loadbalancer import LambdaTarget, LoadBalancer, LoadBalancerArgs, Maintenance
from keel.components.logmetrics import ErrorLineMetrics, ErrorLineMetricsArgs
from keel.components.logs import LogGroups, LogGroupsArgs
from keel.components.network import Network, NetworkArgs
from keel.components.notifications import Notifications, NotificationsArgs
from keel.components.queuemetrics import QueueMetrics, QueueMetricsArgs
from keel.components.registry import Repository, RepositoryArgs
from keel.components.release import Release, ReleaseArgs
from keel.components.secrets import Secrets, SecretsArgs
from keel.components.securitygroups import SecurityGroups, SecurityGroupsArgs
from keel.components.services import Services, ServicesArgs
from keel.components.storage import LEGACY_ELB_LOG_REGIONS, Bucket, BucketArgs
from keel.components.taskdefinitions import TaskDefinitions, TaskDefinitionsArgs
from keel.components.waf import WebAcl, WebAclArgs
from keel.environment import StackValues
from keel.stack_config import stack_config_from_pulumi

cfg = stack_config_from_pulumi()
for warning in cfg.warnings:
    pulumi.log.warn(warning)
tags = {"project": cfg.project, "stack": cfg.stack}
prefix = cfg.name_prefix
account_id = aws.get_caller_identity_output().account_id
try:
    commands = procfile.commands(required=outputs.PROCESSES)
except procfile.ProcfileError as error:
    raise pulumi.RunError(str(error)) from None  # the message alone, no traceback
LOG_STREAM_PREFIX = cfg.project
MAINTENANCE_PAGE_DIR = Path(__file__).resolve().parent / "keel" / "maintenance"
MAINTENANCE_RETRY_AFTER_SECONDS = 300  # what the 503 page's Retry-After asks clients and crawlers to wait

# A database keeps the storage key it was created with: a changed keel:kmsKey stops here, in preview.
if cfg.creates_database and (refusal := storage_key_refusal(f"{prefix}-db", f"{cfg.project}:kmsKey", cfg.kms_key,
                                                             is_customer_managed)):
    raise pulumi.RunError(refusal)

# --- encryption key, log bucket ---------------------------------------------------------------
key = Key("kms", KeyArgs(name=prefix, account_id=account_id, region=cfg.region, protect=cfg.protect_data,
                        tags=tags)) if cfg.kms_key else None
kms_arn = key.arn if key else None
log_bucket = None
if cfg.alb_access_logs or cfg.media_access_logs or cfg.flow_logs:
    # Log delivery services write here; SSE-S3 because ALB access logs cannot use a KMS key.
    log_bucket = Bucket("logs", BucketArgs(
        name_prefix=f"{prefix}-logs-", force_destroy=not cfg.protect_data, protect=cfg.protect_data,
        versioning=cfg.protect_data, expiration_days=cfg.log_bucket_expiration_days,
        log_delivery=True, account_id=account_id,
        elb_account_arn=aws.elb.get_service_account_output().arn if cfg.region in LEGACY_ELB_LOG_REGIONS else None,
        tags=tags))

# --- network ----------------------------------------------------------------------------------
network = Network("network", NetworkArgs(
    name=prefix, cidr=cfg.vpc_cidr, az_count=cfg.az_count, nat_per_az=cfg.nat_gateways == "perAz",
    nat=cfg.nat_gateways != "none",
    flow_log_bucket_arn=log_bucket.arn if (log_bucket and cfg.flow_logs) else None,
    flow_log_depends_on=[log_bucket.policy] if (log_bucket and cfg.flow_logs) else [], tags=tags))
external_ports = tuple(urls.url_port(url, default) for url, default in
                       ((cfg.database_url, 5432), (cfg.redis_url, 6379)) if url)
groups = SecurityGroups("sg", SecurityGroupsArgs(
    name=prefix, vpc_id=network.vpc_id, app_port=contract.PORT,
    listener_ports=(443, 80) if cfg.https else (80,),
    database_port=5432 if cfg.creates_database else None, cache_port=6379 if cfg.creates_cache else None,
    external_ports=external_ports, endpoints=cfg.vpc_endpoints,
    smtp_port=cfg.email.port if cfg.email and not cfg.email.ses else None, tags=tags))
if cfg.vpc_endpoints:
    Endpoints("endpoints", EndpointsArgs(
        name=prefix, region=cfg.region, vpc_id=network.vpc_id, subnet_ids=network.task_subnet_ids,
        route_table_ids=network.private_route_table_ids, security_group_ids=[groups.endpoints.id],
        exec_enabled=cfg.exec_enabled, tags=tags))

# --- backing services (factor IV): created, or attached by URL -----------------------------------
if cfg.creates_database:
    monitoring_role = RdsMonitoringRole("rds-monitoring", f"{prefix}-rds-monitoring", account_id, tags) \
        if cfg.db_monitoring_interval else None
    database_logs = LogGroups("rds-logs", LogGroupsArgs(
        path=f"{cfg.project}/{cfg.stack}", processes=(), exact_names=log_group_names(f"{prefix}-db"),
        retention_days=cfg.log_retention_days, kms_key_arn=kms_arn, tags=tags))
    database = Database("db", DatabaseArgs(
        identifier=f"{prefix}-db", subnet_ids=network.private_subnet_ids, security_group_ids=[groups.database.id],
        instance_class=cfg.db_instance_class, engine_version=cfg.db_engine_version,
        allocated_storage=cfg.db_allocated_storage, max_allocated_storage=cfg.db_max_allocated_storage,
        backup_retention_days=cfg.db_backup_retention_days, multi_az=cfg.db_multi_az,
        deletion_protection=cfg.db_deletion_protection, final_snapshot=cfg.db_final_snapshot,
        performance_insights=cfg.db_performance_insights, monitoring_interval=cfg.db_monitoring_interval,
        monitoring_role_arn=monitoring_role.arn if monitoring_role else None, kms_key_arn=kms_arn,
        apply_immediately=not cfg.protect_data, protect=cfg.protect_data, tags=tags),
        opts=pulumi.ResourceOptions(depends_on=[database_logs, *([monitoring_role] if monitoring_role else [])]))
if cfg.creates_cache:
    cache = Cache("cache", CacheArgs(
        identifier=f"{prefix}-cache", subnet_ids=network.private_subnet_ids, security_group_ids=[groups.cache.id],
        engine=cfg.cache_engine, engine_version=cfg.cache_engine_version, node_type=cfg.cache_node_type,
        replicas=cfg.cache_replicas, snapshot_retention_days=cfg.cache_snapshot_retention_days,
        kms_key_arn=kms_arn, apply_immediately=not cfg.protect_data, protect=cfg.protect_data, tags=tags))
    redis_url = pulumi.Output.secret(pulumi.Output.all(cache.auth_token, cache.address).apply(
        lambda v: urls.redis_url(v[0], v[1], cache.port)))
else:
    redis_url = pulumi.Output.secret(cfg.redis_url)
media = Bucket("media", BucketArgs(
    name_prefix=f"{prefix}-media-", versioning=cfg.media_versioning, kms_key_arn=kms_arn,
    access_log_bucket=log_bucket.name if (log_bucket and cfg.media_access_logs) else None,
    access_log_depends_on=[log_bucket.policy] if (log_bucket and cfg.media_access_logs) else [],
    force_destroy=not cfg.protect_data, protect=cfg.protect_data, tags=tags))

# --- credentials: Secrets Manager, injected as ECS secrets ----------------------------------------
secret_values = {
    "DATABASE_URL": connection_url(database) if cfg.creates_database else pulumi.Output.secret(cfg.database_url),
    "REDIS_URL": redis_url,
    "CELERY_BROKER_URL": redis_url.apply(urls.broker_url),
}
if cfg.django_secret_key:
    secret_values["DJANGO_SECRET_KEY"] = pulumi.Output.secret(cfg.django_secret_key)
if cfg.django_secret_key_fallbacks:
    secret_values["DJANGO_SECRET_KEY_FALLBACKS"] = pulumi.Output.secret(cfg.django_secret_key_fallbacks)
if cfg.email:
    secret_values["EMAIL_URL"] = pulumi.Output.secret(cfg.email.url)
# The team's own secrets (keel:secrets), one Secrets Manager secret each, like the stack's.
secret_values.update({name: pulumi.Output.secret(value) for name, value in cfg.user_secrets.items()})
secrets = Secrets("secrets", SecretsArgs(
    path=f"{cfg.project}/{cfg.stack}", values=secret_values, kms_key_arn=kms_arn,
    generated=() if cfg.django_secret_key else ("DJANGO_SECRET_KEY",),
    recovery_days=cfg.secret_recovery_days, tags=tags))
secret_refs = dict(secrets.arns)
# RDS rotates the master password in its own secret; the app reads it there when it connects (not ECS at
# task start, which would miss a rotation until the next deploy), so the task role reads it, not the
# execution role.
# An attached database may name its own RDS-managed secret (keel:databaseSecretArn) the same way.
database_secret_arn = database.master_secret_arn if cfg.creates_database else cfg.database_secret_arn

# --- image ---------------------------------------------------------------------------------------
repository = Repository("ecr", RepositoryArgs(name=cfg.repository_name, kms_key_arn=kms_arn,
                                              keep_on_delete=cfg.protect_data, tags=tags))
if cfg.image:  # pinned (keel promote / keel rollback): deploy exactly that digest, build nothing
    image_ref, image_revision = pulumi.Output.from_input(cfg.image), cfg.image_revision
else:
    ecr_token = aws.ecr.get_authorization_token_output(registry_id=repository.registry_id)
    image_revision = source_revision()
    image = Image("app", ImageArgs(repository_url=repository.url,
                                   registry_server=repository.url.apply(lambda url: url.split("/")[0]),
                                   registry_username=ecr_token.user_name, registry_password=ecr_token.password,
                                   platform=cfg.image_platform,
                                   # The Dockerfile's PLATFORM defaults to linux/amd64; only arm64 passes it.
                                   build_args={**({"GIT_REVISION": image_revision} if image_revision else {}),
                                               **({"PLATFORM": cfg.image_platform} if cfg.architecture == "arm64"
                                                  else {})}))
    image_ref = image.ref

# --- entry point ---------------------------------------------------------------------------------
certificate_arn = cfg.certificate_arn
if cfg.https and not certificate_arn:
    certificate_arn = Certificate("cert", CertificateArgs(domain=cfg.domain, hosted_zone_id=cfg.hosted_zone_id,
                                                          tags=tags)).arn
lb = LoadBalancer("alb", LoadBalancerArgs(
    name=prefix, vpc_id=network.vpc_id, subnet_ids=network.public_subnet_ids, security_group_ids=[groups.alb.id],
    app_port=contract.PORT, health_path=contract.HEALTH_PATH, certificate_arn=certificate_arn,
    deletion_protection=cfg.alb_deletion_protection,
    access_log_bucket=log_bucket.name if (log_bucket and cfg.alb_access_logs) else None,
    maintenance=Maintenance(exempt_paths=[contract.HEALTH_PATH, contract.READY_PATH],
                            allow_cidrs=list(cfg.maintenance_allow)) if cfg.maintenance != "off" else None,
    tags=tags),
    opts=pulumi.ResourceOptions(depends_on=[log_bucket.policy] if (log_bucket and cfg.alb_access_logs) else []))
if lb.maintenance_target_group is not None:  # keel:maintenance: the page's function (docs/maintenance.md)
    page_logs = LogGroups("maintenance-logs", LogGroupsArgs(
        path=f"{cfg.project}/{cfg.stack}", processes=(), exact_names={"page": f"/aws/lambda/{prefix}-maintenance"},
        retention_days=cfg.log_retention_days, kms_key_arn=kms_arn, tags=tags))
    page_role = FunctionRole("maintenance-role", f"{prefix}-maintenance", account_id, page_logs.arns["page"], tags)
    page = Function("maintenance-page", FunctionArgs(
        physical_name=f"{prefix}-maintenance", role_arn=page_role.arn, source_dir=MAINTENANCE_PAGE_DIR,
        handler="handler.handler", invoker_target_group_arn=lb.maintenance_target_group.arn,
        environment={"RETRY_AFTER_SECONDS": str(MAINTENANCE_RETRY_AFTER_SECONDS)}, tags=tags),
        opts=pulumi.ResourceOptions(depends_on=[page_logs, page_role]))
    LambdaTarget("maintenance-target", lb.maintenance_target_group.arn, page.arn,
                 opts=pulumi.ResourceOptions(depends_on=[page.permission]))
if cfg.waf:
    WebAcl("waf", WebAclArgs(name=prefix, load_balancer_arn=lb.arn, tags=tags))
if cfg.https and cfg.hosted_zone_id:
    Alias("dns", AliasArgs(domain=cfg.domain, hosted_zone_id=cfg.hosted_zone_id, target_dns_name=lb.dns_name,
                           target_zone_id=lb.zone_id))
# --- outgoing mail: an SES identity on the domain (keel:email ses); an SMTP URL needs nothing here ----------
email_identity = None
if cfg.email and cfg.email.ses:
    email_identity = EmailIdentity("email", EmailIdentityArgs(domain=cfg.domain, tags=tags))
    if cfg.hosted_zone_id:
        DkimRecords("dkim", DkimRecordsArgs(domain=cfg.domain, hosted_zone_id=cfg.hosted_zone_id,
                                            tokens=email_identity.dkim_tokens))
    else:
        pulumi.log.warn(f"{cfg.project}:email = 'ses' without {cfg.project}:hostedZoneId: add the three DKIM CNAME "
                        f"records SES lists for {cfg.domain} to your DNS (`aws sesv2 get-email-identity "
                        f"--email-identity {cfg.domain}`); SES sends nothing until it has verified them")
host = pulumi.Output.from_input(cfg.domain) if cfg.https else lb.dns_name
app_url = host.apply(lambda h: f"{'https' if cfg.https else 'http'}://{h}")

# --- processes -----------------------------------------------------------------------------------
logs = LogGroups("logs", LogGroupsArgs(
    path=f"{cfg.project}/{cfg.stack}", processes=outputs.PROCESSES + (("exec",) if cfg.exec_enabled else ()),
    retention_days=cfg.log_retention_days, kms_key_arn=kms_arn, tags=tags))
roles = Roles("roles", RolesArgs(
    name=prefix, account_id=account_id, secret_arns=list(secrets.arns.values()), repository_arn=repository.arn,
    log_group_arns=[logs.arns[p] for p in outputs.PROCESSES], bucket_arn=media.arn, exec_enabled=cfg.exec_enabled,
    exec_log_group_arn=logs.arns.get("exec"),
    runtime_secret_arns=[database_secret_arn] if database_secret_arn else [], region=cfg.region,
    email_identity_arn=email_identity.arn if email_identity else None,
    kms_key_arn=kms_arn, tags=tags))
# beat publishes Celery's queue metrics with the task role: PutMetricData in the stack's namespace only.
queue_metrics = [QueueMetrics("queue-metrics", QueueMetricsArgs(
    namespace=cfg.metrics_namespace, task_role_arn=roles.task_role_arn))] if cfg.queue_metrics else []
cluster = Cluster("cluster", ClusterArgs(name=prefix, exec_log_group=logs.names.get("exec"), kms_key_arn=kms_arn,
                                         tags=tags))
stack_values = pulumi.Output.all(host, app_url, media.name, pulumi.Output.all(**secret_refs),
                                 database_secret_arn).apply(
    lambda v: StackValues(allowed_hosts=[v[0]], csrf_origins=[v[1]], bucket=v[2], region=cfg.region,
                          secret_refs=dict(v[3]), database_secret_arn=v[4], https=cfg.https, user_env=cfg.env,
                          metrics_namespace=cfg.metrics_namespace if cfg.queue_metrics else ""))
task_definitions = TaskDefinitions("task", TaskDefinitionsArgs(
    family_prefix=prefix, sizes=cfg.processes, commands=commands, image_ref=image_ref, stack_values=stack_values,
    secrets_fingerprint=secrets.fingerprint, log_group_names=logs.names, region=cfg.region,
    stream_prefix=LOG_STREAM_PREFIX, execution_role_arn=roles.execution_role_arn,
    task_role_arn=roles.task_role_arn, exec_enabled=cfg.exec_enabled, cpu_architecture=cfg.cpu_architecture,
    tags=tags),
    opts=pulumi.ResourceOptions(depends_on=[roles, *queue_metrics]))

# The release phase: migrations run to success before any service moves.
gate = [Release("release", ReleaseArgs(
    cluster_arn=cluster.arn, task_definition_arn=task_definitions.arns["release"], container_name="release",
    subnet_ids=network.task_subnet_ids, security_group_ids=[groups.tasks.id],
    assign_public_ip=network.tasks_public, log_group_name=logs.names["release"], log_stream_prefix=LOG_STREAM_PREFIX,
    aws=cfg.aws_identity, timeout_minutes=cfg.release_timeout_minutes),
    # Its task needs the security-group rules, NAT routes and role policies that no input of it references.
    opts=pulumi.ResourceOptions(depends_on=[network, groups, roles, *queue_metrics]))]
services = Services("svc", ServicesArgs(
    name_prefix=prefix, cluster_arn=cluster.arn, task_definition_arns=task_definitions.arns, sizes=cfg.running_sizes,
    subnet_ids=network.task_subnet_ids, security_group_ids=[groups.tasks.id],
    target_group_arn=lb.target_group_arn, container_port=contract.PORT, exec_enabled=cfg.exec_enabled,
    assign_public_ip=network.tasks_public, timeout_minutes=cfg.deploy_timeout_minutes,
    depends_on=[*gate, cluster.providers], web_depends_on=lb.listeners, tags=tags),
    opts=pulumi.ResourceOptions(
    depends_on=gate))
for process in ("web", "worker"):
    size = cfg.running_sizes[process]
    if size.autoscaling:
        ServiceScaling(f"scale-{process}", ScalingArgs(
            cluster_name=cluster.name, service_name=services.names[process], min_count=size.min_count,
            max_count=size.max_count, cpu_target=size.cpu_target, requests_per_target=size.requests_per_target,
            request_resource_label=pulumi.Output.concat(lb.arn_suffix, "/", lb.target_group_arn_suffix)
            if process == "web" else None,
            queue_namespace=cfg.metrics_namespace if process == "worker" and cfg.queue_metrics else None,
            backlog_per_task=size.backlog_per_task, prefix=prefix, tags=tags),
            opts=pulumi.ResourceOptions(depends_on=[services]))
# ECS can report steady state after rolling back; fail `pulumi up` unless each service runs our revision.
DeployCheck("deploy-check", DeployCheckArgs(
    cluster_arn=cluster.arn, services={p: (services.names[p], task_definitions.arns[p]) for p in outputs.SERVICES},
    aws=cfg.aws_identity, timeout_minutes=cfg.deploy_timeout_minutes),
    opts=pulumi.ResourceOptions(depends_on=list(services.services.values())))

# --- operations: alarms to a topic, ERROR lines as metrics, deploy and database events, a dashboard ----
database_id = f"{prefix}-db" if cfg.creates_database else None
# ElastiCache names a replication group's nodes <group id>-001, -002, ... (cluster mode disabled).
cache_nodes = tuple(f"{replication_group_id(f'{prefix}-cache', kms_arn is not None)}-{i:03d}"
                    for i in range(1, cfg.cache_replicas + 2)) if cfg.creates_cache else ()
watched_queues = ("celery",) if cfg.queue_metrics else ()  # Celery's default queue, the only one the app uses
if cfg.alarms:
    notifications = Notifications("alarms-topic", NotificationsArgs(
        name=f"{prefix}-alarms", account_id=account_id, email=cfg.alarm_email,
        existing_topic_arn=cfg.alarm_topic_arn, kms_key_arn=kms_arn, tags=tags))
    ErrorLineMetrics("error-lines", ErrorLineMetricsArgs(
        namespace=cfg.metrics_namespace, log_group_names={p: logs.names[p] for p in outputs.PROCESSES}))
    Alarms("alarms", AlarmsArgs(
        prefix=prefix, topic_arn=notifications.topic_arn, thresholds=cfg.alarm_thresholds,
        metrics_namespace=cfg.metrics_namespace, cluster_name=cluster.name,
        service_names={p: services.names[p] for p in outputs.SERVICES},
        max_counts={p: cfg.running_sizes[p].max_count if cfg.running_sizes[p].autoscaling else None
                    for p in ("web", "worker")}, beat_runs=cfg.running_sizes["beat"].count > 0,
        load_balancer=lb.arn_suffix, target_group=lb.target_group_arn_suffix,
        database=database_id, cache_nodes=cache_nodes, queues=watched_queues, log_processes=outputs.PROCESSES,
        tags=tags))
    EventAlerts("events", EventAlertsArgs(
        prefix=prefix, topic_arn=notifications.topic_arn,
        service_arns=[services.services[p].arn for p in outputs.SERVICES],
        database=database_id, tags=tags), opts=pulumi.ResourceOptions(depends_on=notifications.ready))
    pulumi.export(outputs.ALARM_TOPIC_ARN, notifications.topic_arn)
if cfg.dashboard:
    dashboard = Dashboard("dashboard", DashboardArgs(
        name=prefix, region=cfg.region, namespace=cfg.metrics_namespace, cluster_name=cluster.name,
        service_names={p: services.names[p] for p in outputs.SERVICES}, load_balancer=lb.arn_suffix,
        target_group=lb.target_group_arn_suffix, database=database_id, cache_nodes=cache_nodes, queues=watched_queues,
        release_log_group=logs.names["release"], tags=tags))
    pulumi.export(outputs.DASHBOARD_URL, dashboard.url)

# --- outputs (names in keel/outputs.py; nothing secret) ---------------------------------------------
pulumi.export(outputs.URL, app_url)
pulumi.export(outputs.REGION, cfg.region)
pulumi.export(outputs.STACK, cfg.stack)
pulumi.export(outputs.CLUSTER_NAME, cluster.name)
pulumi.export(outputs.CLUSTER_ARN, cluster.arn)
pulumi.export(outputs.SERVICE_NAMES, services.names)
pulumi.export(outputs.TASK_DEFINITION_ARNS, task_definitions.arns)
pulumi.export(outputs.CONTAINER_NAMES, {p: p for p in outputs.PROCESSES})
pulumi.export(outputs.PRIVATE_SUBNET_IDS, network.task_subnet_ids)
pulumi.export(outputs.TASKS_PUBLIC_IP, network.tasks_public)
pulumi.export(outputs.TASK_SECURITY_GROUP_ID, groups.tasks.id)
pulumi.export(outputs.LOG_GROUP_NAMES, {p: logs.names[p] for p in outputs.PROCESSES})
pulumi.export(outputs.LOG_STREAM_PREFIX, LOG_STREAM_PREFIX)
pulumi.export(outputs.BUCKET_NAME, media.name)
pulumi.export(outputs.REPOSITORY_URL, repository.url)
pulumi.export(outputs.IMAGE_REF, image_ref)
pulumi.export(outputs.IMAGE_REVISION, image_revision)
pulumi.export(outputs.EXEC_ENABLED, cfg.exec_enabled)
