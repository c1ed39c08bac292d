"""Operations rules (OPS-01..OPS-05): metrics permissions, alarms that reach someone, Spot placement.

Kinds are Pulumi's type tokens without the provider prefix, as elsewhere in the pack.
"""

from __future__ import annotations

from keel_policy.ecs import process_of, task_of
from keel_policy.iam import documents
from keel_policy.model import Finding, Stack, as_list
from keel_policy.registry import ALL, HIGH, MEDIUM, PROD, Context, stack_rule

ALARM, COMPOSITE, TOPIC = "cloudwatch:MetricAlarm", "cloudwatch:CompositeAlarm", "sns:Topic"
SERVICE = "ecs:Service"
SPOT = "FARGATE_SPOT"


@stack_rule("OPS-01", "cloudwatch:PutMetricData is granted only with a cloudwatch:namespace condition",
            "CloudWatch user guide: condition keys for namespaces; least privilege (IAM-03 leaves it unscoped)",
            ALL, MEDIUM, ("iam:RolePolicy", "iam:Policy", "iam:Role"))
def metrics_namespace_scoped(stack: Stack, ctx: Context):
    for owner, sts in documents(stack):
        for st in sts:
            # Wildcard actions are IAM-01/IAM-02's findings; this rule is about the explicit grant.
            if st.effect != "Allow" or "cloudwatch:PutMetricData" not in st.actions:
                continue
            namespaces = [v for cond in st.conditions.values() if isinstance(cond, dict)
                          for k, v in cond.items() if k.lower() == "cloudwatch:namespace"]
            if not namespaces:
                yield Finding("allows cloudwatch:PutMetricData in any namespace; add a StringEquals "
                              "cloudwatch:namespace condition", owner)


@stack_rule("OPS-02", "Every alarm notifies someone: it has alarm actions, or a composite alarm with actions uses it",
            "AWS Well-Architected REL06-BP03 (alert on key metrics)", ALL, MEDIUM, (ALARM, COMPOSITE))
def alarms_reach_someone(stack: Stack, ctx: Context):
    rules = " ".join(str(c.props.get("alarmRule", "")) for c in stack.of(COMPOSITE)
                     if as_list(c.props.get("alarmActions")))
    for alarm in stack.of(ALARM):
        name = str(alarm.props.get("name") or alarm.name)
        if not as_list(alarm.props.get("alarmActions")) and f'"{name}"' not in rules:
            yield Finding("no alarmActions, and no composite alarm with actions uses it", alarm)
    for composite in stack.of(COMPOSITE):
        if not as_list(composite.props.get("alarmActions")):
            yield Finding("composite alarm without alarmActions", composite)


@stack_rule("OPS-03", "Prod has an alarm topic, encrypted with a KMS key, and alarms publishing to it",
            "FSBP SNS.1; CKV_AWS_26 (SNS encryption); Well-Architected REL06", PROD, MEDIUM, (TOPIC, ALARM))
def prod_alarms(stack: Stack, ctx: Context):
    topics = stack.of(TOPIC)
    if not stack.of(ALARM):
        yield Finding("no CloudWatch alarms: set keel:alarms true")
    for topic in topics:
        if not topic.props.get("kmsMasterKeyId"):
            yield Finding("the alarm topic has no kmsMasterKeyId", topic)


@stack_rule("OPS-04", "beat and release never run on Fargate Spot", "Keel: singleton scheduler and the release gate",
            ALL, HIGH, (SERVICE,))
def singletons_on_demand(stack: Stack, ctx: Context):
    for service in stack.of(SERVICE):
        process = process_of(stack, service)
        providers = [s.get("capacityProvider") for s in as_list(service.props.get("capacityProviderStrategies"))]
        if process in ("beat", "release") and SPOT in providers:
            yield Finding(f"{process} runs on {SPOT}: a Spot interruption would stop the only {process}", service)


@stack_rule("OPS-05", "ARM64 task definitions are not placed on Fargate Spot (Fargate Spot runs X86_64 only)",
            "ECS developer guide: Fargate capacity providers", ALL, HIGH, (SERVICE,))
def no_arm_on_spot(stack: Stack, ctx: Context):
    for service in stack.of(SERVICE):
        providers = [s.get("capacityProvider") for s in as_list(service.props.get("capacityProviderStrategies"))]
        task = task_of(stack, service)
        platform = (task.props.get("runtimePlatform") or {}) if task else {}
        if SPOT in providers and platform.get("cpuArchitecture") == "ARM64":
            yield Finding("an ARM64 task definition with a FARGATE_SPOT strategy: ECS cannot place it", service)

