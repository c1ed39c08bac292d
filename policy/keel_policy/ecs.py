"""ECS cluster, service and task-definition rules (ECS-01..ECS-15).

Containers are read from the task definition's ``containerDefinitions`` JSON. Process types are
recognised by container name (``web``, ``worker``, ``beat``, ``release``: the Procfile's names),
and the web service is the one behind a load balancer.
"""

from __future__ import annotations

import re
import shlex

from keel_policy.model import Finding, Resource, Stack, as_list, is_true, number, parse_json
from keel_policy.network import public_subnets_named
from keel_policy.registry import ALL, CRITICAL, HIGH, LOW, MEDIUM, PROD, Context, resource_rule, stack_rule

CLUSTER, SERVICE, TASK = "ecs:Cluster", "ecs:Service", "ecs:TaskDefinition"
CREDENTIAL_NAME = re.compile(r"SECRET|PASSWORD|PASSWD|TOKEN|CREDENTIAL|PRIVATE_KEY|ACCESS_KEY|ECS_ENGINE_AUTH_DATA")
SECRET_REFERENCE = re.compile(r"arn:aws[a-z-]*:(secretsmanager|ssm):[^:]+:\d{12}:(secret|parameter)[:/]\S+$")
URL_WITH_PASSWORD = re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@]*:[^/\s@]+@", re.IGNORECASE)
GUNICORN_DEFAULT_GRACEFUL_TIMEOUT = 30  # seconds, gunicorn's documented default
FARGATE_MAX_STOP_TIMEOUT = 120


def containers(task: Resource) -> list[dict]:
    return [c for c in as_list(parse_json(task.props.get("containerDefinitions"))) if isinstance(c, dict)]


def task_of(stack: Stack, service: Resource) -> Resource | None:
    found = stack.referenced(service, "taskDefinition", service.props.get("taskDefinition"), TASK)
    return found[0] if found else None


def process_of(stack: Stack, service: Resource) -> str:
    """The process type a service runs: its container's name, else a hint in its name."""
    task = task_of(stack, service)
    names = [c.get("name") for c in containers(task)] if task else []
    for process in ("web", "worker", "beat", "release"):
        if process in names:
            return process
    label = f"{service.name} {service.props.get('name', '')}"
    return next((p for p in ("beat", "worker", "web") if p in label), "")


def autoscaling_targets(stack: Stack, service: Resource) -> list[Resource]:
    name = str(service.props.get("name") or service.id or service.name)
    return [t for t in stack.of("appautoscaling:Target")
            if str(t.props.get("resourceId", "")).endswith("/" + name) or stack.refers(t, "resourceId", service)]


@resource_rule("ECS-01", "Container Insights is enabled on the cluster", "FSBP ECS.12; CKV_AWS_65", ALL, LOW, (CLUSTER,))
def container_insights(cluster: Resource, ctx: Context):
    if not any(s.get("name") == "containerInsights" and s.get("value") in ("enabled", "enhanced")
               for s in as_list(cluster.props.get("settings"))):
        yield Finding("settings has no containerInsights=enabled (or enhanced)")


@stack_rule("ECS-02", "Tasks get no public IP and run in private subnets", "FSBP ECS.2, ECS.16; CKV_AWS_333",
            ALL, HIGH, (SERVICE, "ecs:TaskSet"))
def private_tasks(stack: Stack, ctx: Context):
    # A dev-class stack without NAT runs its tasks public on purpose (exceptions.py, DEV-PUBLIC-TASKS).
    waived = "DEV-PUBLIC-TASKS" if not ctx.https_required and not stack.of("ec2:NatGateway") else None
    for service in stack.of(SERVICE, "ecs:TaskSet"):
        network = service.props.get("networkConfiguration")
        if not network:
            yield Finding("no networkConfiguration (awsvpc subnets and security groups)", service)
            continue
        if is_true(network.get("assignPublicIp")):
            yield Finding("networkConfiguration.assignPublicIp is true", service, waived)
        public = public_subnets_named(stack, service, "networkConfiguration", network.get("subnets"))
        if public:
            yield Finding(f"runs in public subnets {[s.name for s in public]}", service, waived)


@resource_rule("ECS-03", "Fargate services use the LATEST platform version (platformVersion absent or LATEST)",
               "FSBP ECS.10; CKV_AWS_332", ALL, LOW, (SERVICE,))
def latest_platform(service: Resource, ctx: Context):
    fargate = service.props.get("launchType") == "FARGATE" or any(
        str(s.get("capacityProvider", "")).startswith("FARGATE")
        for s in as_list(service.props.get("capacityProviderStrategies")))
    version = service.props.get("platformVersion")
    if fargate and version not in (None, "LATEST"):
        yield Finding(f"platformVersion is pinned to {version!r}")


@stack_rule("ECS-04", "Every container logs through a log driver (awslogs to a log group of this stack)",
            "FSBP ECS.9", ALL, MEDIUM, (TASK,))
def logging(stack: Stack, ctx: Context):
    groups = set().union(*(g.identities() for g in stack.of("cloudwatch:LogGroup")))
    for task in stack.of(TASK):
        for c in containers(task):
            config = c.get("logConfiguration") or {}
            driver = config.get("logDriver")
            if not driver:
                yield Finding(f"container {c.get('name')} has no logConfiguration.logDriver", task)
            elif driver == "awslogs" and (config.get("options") or {}).get("awslogs-group") not in groups:
                yield Finding(f"container {c.get('name')} logs to a group this stack does not create", task)


@resource_rule("ECS-05", "No container runs privileged", "FSBP ECS.4; CKV_AWS_334", ALL, CRITICAL, (TASK,))
def not_privileged(task: Resource, ctx: Context):
    for c in containers(task):
        if is_true(c.get("privileged")):
            yield Finding(f"container {c.get('name')} is privileged")


@resource_rule("ECS-06", "Every container has a read-only root filesystem and a writable task volume at /tmp",
               "FSBP ECS.5; CKV_AWS_336", ALL, MEDIUM, (TASK,))
def read_only_root(task: Resource, ctx: Context):
    volumes = {v.get("name") for v in as_list(task.props.get("volumes"))}
    for c in containers(task):
        if not is_true(c.get("readonlyRootFilesystem")):
            yield Finding(f"container {c.get('name')}: readonlyRootFilesystem is not true")
        tmp = [m for m in as_list(c.get("mountPoints")) if m.get("containerPath") == "/tmp"]
        if not tmp or tmp[0].get("sourceVolume") not in volumes or is_true(tmp[0].get("readOnly")):
            yield Finding(f"container {c.get('name')}: no writable task volume mounted at /tmp")


@resource_rule("ECS-07", "Every container runs as a non-root user", "FSBP ECS.20 (successor of ECS.1)", ALL, HIGH,
               (TASK,))
def non_root(task: Resource, ctx: Context):
    for c in containers(task):
        user = str(c.get("user") or "").split(":")[0]
        if user in ("", "root", "0"):
            yield Finding(f"container {c.get('name')}: user is {c.get('user')!r}; set a non-root UID")


@resource_rule("ECS-08", "Task networkMode is awsvpc; no host PID or IPC namespace",
               "FSBP ECS.3, ECS.17; CKV_AWS_335", ALL, HIGH, (TASK,))
def task_isolation(task: Resource, ctx: Context):
    if task.props.get("networkMode") != "awsvpc":
        yield Finding(f"networkMode is {task.props.get('networkMode')!r}, not awsvpc")
    for key in ("pidMode", "ipcMode"):
        if task.props.get(key) == "host":
            yield Finding(f"{key} is host")


@resource_rule("ECS-09", "No credential in a container's environment: names with SECRET/PASSWORD/TOKEN/KEY and URLs "
               "with passwords come through secrets[].valueFrom (a Secrets Manager or SSM ARN)",
               "FSBP ECS.8", ALL, CRITICAL, (TASK,))
def no_plain_credentials(task: Resource, ctx: Context):
    for c in containers(task):
        for var in as_list(c.get("environment")):
            name, value = str(var.get("name", "")), str(var.get("value", ""))
            # A secret's ARN (e.g. DATABASE_SECRET_ARN) names where the credential is, it is not one.
            if CREDENTIAL_NAME.search(name.upper()) and not SECRET_REFERENCE.match(value):
                yield Finding(f"container {c.get('name')}: {name} is in environment; move it to secrets")
            elif URL_WITH_PASSWORD.search(value):
                yield Finding(f"container {c.get('name')}: {name} holds a URL with a password; move it to secrets")
        for secret in as_list(c.get("secrets")):
            source = str(secret.get("valueFrom", ""))
            if not re.match(r"arn:aws[a-z-]*:(secretsmanager|ssm):", source):
                yield Finding(f"container {c.get('name')}: secret {secret.get('name')} valueFrom is not an ARN")


@resource_rule("ECS-10", "The execution role and the task role are different roles", "CKV_AWS_249", ALL, MEDIUM,
               (TASK,))
def separate_roles(task: Resource, ctx: Context):
    execution, role = task.props.get("executionRoleArn"), task.props.get("taskRoleArn")
    if execution and execution == role:
        yield Finding("executionRoleArn equals taskRoleArn")


@resource_rule("ECS-11", "Rolling deployments have a circuit breaker with rollback",
               "ECS deployment best practice (reliability)", ALL, MEDIUM, (SERVICE,))
def circuit_breaker(service: Resource, ctx: Context):
    if (service.get("deploymentController", "type") or "ECS") != "ECS":
        return
    breaker = service.props.get("deploymentCircuitBreaker") or {}
    if not (is_true(breaker.get("enable")) and is_true(breaker.get("rollback"))):
        yield Finding("deploymentCircuitBreaker is not {enable: true, rollback: true}")


@stack_rule("ECS-12", "Celery beat runs exactly one instance: desiredCount 1, max 100 %, min healthy 0 %, "
            "no autoscaling", "Celery periodic tasks: only a single scheduler", ALL, HIGH, (SERVICE,))
def single_beat(stack: Stack, ctx: Context):
    for service in stack.of(SERVICE):
        if process_of(stack, service) != "beat":
            continue
        p = service.props
        if (number(p.get("desiredCount")), number(p.get("deploymentMaximumPercent")),
                number(p.get("deploymentMinimumHealthyPercent"))) != (1, 100, 0):
            yield Finding("beat needs desiredCount=1, deploymentMaximumPercent=100, "
                          "deploymentMinimumHealthyPercent=0 (two schedulers send every task twice)", service)
        if autoscaling_targets(stack, service):
            yield Finding("beat has an autoscaling target", service)


def _web_services(stack: Stack) -> list[Resource]:
    return [s for s in stack.of(SERVICE) if as_list(s.props.get("loadBalancers"))]


@stack_rule("ECS-13", "The web service deploys with min healthy 100 %, max 200 % and a health-check grace period",
            "ECS rolling update (reliability)", ALL, MEDIUM, (SERVICE,))
def web_rolling_update(stack: Stack, ctx: Context):
    for service in _web_services(stack):
        p = service.props
        if number(p.get("deploymentMinimumHealthyPercent")) != 100 or number(p.get("deploymentMaximumPercent")) != 200:
            yield Finding("set deploymentMinimumHealthyPercent=100 and deploymentMaximumPercent=200", service)
        if number(p.get("healthCheckGracePeriodSeconds")) is None:
            yield Finding("healthCheckGracePeriodSeconds is not set", service)


@stack_rule("ECS-13-PROD", "The prod web service runs 2+ tasks (desiredCount and autoscaling minimum)",
            "ECS rolling update (reliability)", PROD, MEDIUM, (SERVICE,))
def web_redundancy(stack: Stack, ctx: Context):
    for service in _web_services(stack):
        if (number(service.props.get("desiredCount")) or 0) < 2:
            yield Finding("desiredCount is below 2", service)
        for target in autoscaling_targets(stack, service):
            if (number(target.props.get("minCapacity")) or 0) < 2:
                yield Finding(f"autoscaling target {target.name} has minCapacity below 2", service)


def graceful_timeout(container: dict) -> float:
    """gunicorn's graceful timeout for this container: --graceful-timeout in its command, else the default."""
    command = container.get("command") or []
    words = shlex.split(command) if isinstance(command, str) else [str(w) for w in command]
    for var in as_list(container.get("environment")):
        if var.get("name") == "GUNICORN_CMD_ARGS":
            words += shlex.split(str(var.get("value", "")))
    for i, word in enumerate(words):
        if word.startswith("--graceful-timeout="):
            return float(word.split("=", 1)[1])
        if word == "--graceful-timeout" and i + 1 < len(words):
            return float(words[i + 1])
    return GUNICORN_DEFAULT_GRACEFUL_TIMEOUT


@resource_rule("ECS-14", "Every container sets stopTimeout above its drain time: web >= gunicorn graceful timeout "
               "+ 10 s, worker = 120 s", "ECS stopTimeout (Fargate default 30 s, max 120 s)", ALL, MEDIUM, (TASK,))
def stop_timeout(task: Resource, ctx: Context):
    for c in containers(task):
        timeout, name = number(c.get("stopTimeout")), c.get("name")
        if timeout is None:
            yield Finding(f"container {name}: stopTimeout is not set (Fargate's 30 s default)")
        elif name == "web" and timeout < graceful_timeout(c) + 10:
            yield Finding(f"container web: stopTimeout {timeout:g} < gunicorn graceful timeout "
                          f"{graceful_timeout(c):g} + 10")
        elif name == "worker" and timeout != FARGATE_MAX_STOP_TIMEOUT:
            yield Finding(f"container worker: stopTimeout {timeout:g}; Celery needs the Fargate maximum, 120")


@stack_rule("ECS-15", "ECS Exec is off, or its sessions are logged and encrypted with a customer key",
            "CKV_AWS_223, CKV_AWS_224", PROD, HIGH, (SERVICE,))
def exec_audited(stack: Stack, ctx: Context):
    for service in stack.of(SERVICE):
        if not is_true(service.props.get("enableExecuteCommand")):
            continue
        clusters = stack.referenced(service, "cluster", service.props.get("cluster"), CLUSTER)
        configs = [c.get("configuration", "executeCommandConfiguration") or {} for c in clusters]
        if not any(c.get("kmsKeyId") and c.get("logging", "DEFAULT") != "NONE" for c in configs):
            yield Finding("enableExecuteCommand is true but the cluster's executeCommandConfiguration has no "
                          "kmsKeyId with logging", service)
