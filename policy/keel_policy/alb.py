"""Application Load Balancer rules (ALB-01..ALB-11): listeners, TLS, headers, logs, target groups."""

from __future__ import annotations

from keel_policy.documents import statements
from keel_policy.model import Finding, Resource, Stack, as_list, is_true
from keel_policy.network import has_https_listener, redirects_to_https
from keel_policy.registry import ALL, HIGH, MEDIUM, PROD, Context, resource_rule, stack_rule

LB, LISTENER, TARGET_GROUP = "lb:LoadBalancer", "lb:Listener", "lb:TargetGroup"
# FSBP ELB.17's recommended policies (TLS 1.2+ with forward secrecy), including the post-quantum ones.
RECOMMENDED_SSL_POLICIES = (
    "ELBSecurityPolicy-TLS13-1-2-2021-06", "ELBSecurityPolicy-TLS13-1-2-Res-2021-06",
    "ELBSecurityPolicy-TLS13-1-3-2021-06", "ELBSecurityPolicy-TLS13-1-2-FIPS-2023-04",
    "ELBSecurityPolicy-TLS13-1-2-Res-FIPS-2023-04", "ELBSecurityPolicy-TLS13-1-3-FIPS-2023-04",
    "ELBSecurityPolicy-TLS13-1-2-PQ-2025-09", "ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09",
    "ELBSecurityPolicy-TLS13-1-3-PQ-2025-09",
)


def _protocol(listener: Resource) -> str:
    # An ALB listener without a protocol is HTTP.
    return str(listener.props.get("protocol") or "HTTP").upper()


def _plain_http_allowed(stack: Stack, ctx: Context) -> bool:
    """A dev stack with no HTTPS listener at all (no domain): documented exception DEV-PLAIN-HTTP."""
    return not ctx.https_required and not has_https_listener(stack)


def _target_groups(stack: Stack, owner: Resource, prop: str) -> list[Resource]:
    """The target groups the forward actions under ``owner.props[prop]`` send traffic to."""
    refs = []
    for action in as_list(owner.props.get(prop)):
        if action.get("type") != "forward":
            continue
        refs.append(action.get("targetGroupArn"))
        refs += [g.get("arn") for g in as_list((action.get("forward") or {}).get("targetGroups"))]
    return stack.referenced(owner, prop, [r for r in refs if r], TARGET_GROUP)


def _plain_forwards(stack: Stack):
    """(forwarding resource, target group) for every route from a non-HTTPS listener: its default
    actions and the actions of listener rules attached to it."""
    for listener in stack.of(LISTENER):
        if _protocol(listener) == "HTTPS":
            continue
        for group in _target_groups(stack, listener, "defaultActions"):
            yield listener, group
        for rule in stack.pointing_at(listener, "listenerArn", "lb:ListenerRule"):
            for group in _target_groups(stack, rule, "actions"):
                yield rule, group


@stack_rule("ALB-01", "Every HTTP listener has exactly one default action: a redirect to HTTPS",
            "FSBP ELB.1; AWSGuard alb-http-to-https-redirection; CKV2_AWS_20, CKV_AWS_2", ALL, HIGH, (LISTENER,))
def http_redirects(stack: Stack, ctx: Context):
    for listener in stack.of(LISTENER):
        if _protocol(listener) == "HTTP" and not redirects_to_https(listener):
            exception = "DEV-PLAIN-HTTP" if _plain_http_allowed(stack, ctx) else None
            yield Finding("this HTTP listener does not only redirect to HTTPS", listener, exception)


@stack_rule("ALB-02", "Each load balancer serves through an HTTPS listener with a certificate",
            "FSBP ELB.18; CKV_AWS_2; PCP aws-lb-listener-disallow-unencrypted-traffic (exception HTTP-REDIRECT)",
            ALL, HIGH, (LB, LISTENER))
def https_serving(stack: Stack, ctx: Context):
    exception = "DEV-PLAIN-HTTP" if _plain_http_allowed(stack, ctx) else None
    for listener in stack.of(LISTENER):
        if _protocol(listener) == "HTTPS" and not listener.props.get("certificateArn"):
            yield Finding("HTTPS listener without certificateArn", listener)
    for lb in stack.of(LB):
        listeners = stack.pointing_at(lb, "loadBalancerArn", LISTENER)
        if not any(_protocol(lst) == "HTTPS" for lst in listeners):
            yield Finding("the load balancer has no HTTPS listener", lb, exception)


@resource_rule("ALB-03", "HTTPS listeners use a recommended TLS 1.2+ policy "
               "(ELBSecurityPolicy-TLS13-1-2-2021-06 passes every source)",
               "FSBP ELB.17; CKV_AWS_103, CKV2_AWS_74; PCP aws-lb-listener-configure-secure-tls", ALL, HIGH,
               (LISTENER,))
def tls_policy(listener: Resource, ctx: Context):
    if _protocol(listener) == "HTTPS" and listener.props.get("sslPolicy") not in RECOMMENDED_SSL_POLICIES:
        yield Finding(f"sslPolicy is {listener.props.get('sslPolicy')!r}; use ELBSecurityPolicy-TLS13-1-2-2021-06")


@resource_rule("ALB-04", "dropInvalidHeaderFields is true", "FSBP ELB.4; CKV_AWS_131", ALL, MEDIUM, (LB,))
def drop_invalid_headers(lb: Resource, ctx: Context):
    if not is_true(lb.props.get("dropInvalidHeaderFields")):
        yield Finding("dropInvalidHeaderFields is not true (the AWS default is false)")


@resource_rule("ALB-05", "desyncMitigationMode is defensive or strictest (absent = defensive)",
               "FSBP ELB.12; CKV_AWS_328", ALL, MEDIUM, (LB,))
def desync_mitigation(lb: Resource, ctx: Context):
    mode = lb.props.get("desyncMitigationMode")
    if mode is not None and mode not in ("defensive", "strictest"):
        yield Finding(f"desyncMitigationMode is {mode!r}")


@stack_rule("ALB-06", "Access logs are enabled to a bucket whose policy lets ELB log delivery write",
            "FSBP ELB.5; AWSGuard elb-logging-enabled; CKV_AWS_91; PCP aws-lb-loadbalancer-enable-access-logging",
            PROD, MEDIUM, (LB,))
def access_logs(stack: Stack, ctx: Context):
    for lb in stack.of(LB):
        logs = lb.props.get("accessLogs") or {}
        if not is_true(logs.get("enabled")) or not logs.get("bucket"):
            yield Finding("accessLogs.enabled is not true with a bucket", lb)
            continue
        buckets = stack.referenced(lb, "accessLogs", logs.get("bucket"), "s3:Bucket")
        for bucket in buckets:
            if not any(_allows_put(policy) for policy in stack.pointing_at(bucket, "bucket", "s3:BucketPolicy")):
                yield Finding(f"log bucket {bucket.name} has no policy allowing s3:PutObject for log delivery", lb)


def _allows_put(policy: Resource) -> bool:
    return any(s.effect == "Allow" and any(a in ("s3:PutObject", "s3:*") for a in s.actions)
               for s in statements(policy.props.get("policy")))


@resource_rule("ALB-07", "enableDeletionProtection is true",
               "FSBP ELB.6; AWSGuard elb-deletion-protection-enabled; CKV_AWS_150", PROD, MEDIUM, (LB,))
def deletion_protection(lb: Resource, ctx: Context):
    if not is_true(lb.props.get("enableDeletionProtection")):
        yield Finding("enableDeletionProtection is not true")


@stack_rule("ALB-08", "The load balancer's subnets span two or more Availability Zones", "FSBP ELB.13", ALL, MEDIUM,
            (LB,))
def multi_az(stack: Stack, ctx: Context):
    for lb in stack.of(LB):
        refs = as_list(lb.props.get("subnets")) + [m.get("subnetId") for m in as_list(lb.props.get("subnetMappings"))]
        subnets = stack.referenced(lb, "subnets", refs, "ec2:Subnet")
        zones = {s.props.get("availabilityZone") or s.props.get("availabilityZoneId") for s in subnets}
        count = len(zones - {None}) if subnets else len(set(refs))
        if count < 2:
            yield Finding(f"subnets span {count} Availability Zone(s)", lb)


@stack_rule("ALB-09", "An internet-facing load balancer has a WAFv2 web ACL association",
            "CKV2_AWS_28; Security Hub ELB.16 (NIST)", PROD, MEDIUM, (LB,))
def waf(stack: Stack, ctx: Context):
    for lb in stack.of(LB):
        if not is_true(lb.props.get("internal")) and not stack.pointing_at(lb, "resourceArn", "wafv2:WebAclAssociation"):
            yield Finding("no wafv2.WebAclAssociation for this internet-facing load balancer", lb)


@resource_rule("ALB-10", "HTTP/HTTPS target groups define healthCheck.path and healthCheck.matcher", "CKV_AWS_261",
               ALL, MEDIUM, (TARGET_GROUP,))
def health_check(group: Resource, ctx: Context):
    if str(group.props.get("protocol") or "HTTP").upper() in ("HTTP", "HTTPS"):
        missing = [k for k in ("path", "matcher") if not group.get("healthCheck", k)]
        if missing:
            yield Finding(f"healthCheck.{' and healthCheck.'.join(missing)} not set")


@stack_rule("ALB-11", "An HTTP target group is reached only through HTTPS listeners", "CKV_AWS_378", ALL, MEDIUM,
            (TARGET_GROUP,))
def target_behind_https(stack: Stack, ctx: Context):
    for route, group in _plain_forwards(stack):
        if str(group.props.get("protocol") or "HTTP").upper() == "HTTP":
            exception = "DEV-PLAIN-HTTP" if _plain_http_allowed(stack, ctx) else None
            yield Finding(f"{route.name} forwards plain HTTP to this target group", group, exception)
