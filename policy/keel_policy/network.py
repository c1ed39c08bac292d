"""VPC, subnet and security-group rules (NET-01..NET-11), and the security-group graph they read.

Security-group permissions come in four shapes (inline ``ingress``/``egress`` blocks,
``ec2.SecurityGroupRule``, ``vpc.SecurityGroupIngressRule`` / ``EgressRule``); ``permissions``
turns them all into one ``Permission`` so each rule is written once.
"""

from __future__ import annotations

from dataclasses import dataclass

from keel_policy.model import Finding, Resource, Stack, as_list, is_true, number
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

SG = "ec2:SecurityGroup"
SG_RULE_KINDS = ("ec2:SecurityGroupRule", "vpc:SecurityGroupIngressRule", "vpc:SecurityGroupEgressRule")
WORLD = ("0.0.0.0/0", "::/0")
# FSBP EC2.19's high-risk ports.
HIGH_RISK_PORTS = (20, 21, 22, 23, 25, 110, 135, 143, 445, 1433, 1434, 3000, 3306, 3389, 4333, 5000, 5432,
                   5500, 5601, 8080, 9200, 9300)
PROTOCOL_NAMES = {"6": "tcp", "17": "udp", "1": "icmp", "all": "-1", "-1.0": "-1"}


@dataclass(frozen=True)
class Permission:
    """One ingress or egress permission, whatever resource shape declared it."""

    owner: Resource  # the resource that declares it: the SG itself (inline) or a rule resource
    prop: str  # the owner's property holding the target SG / the sources ("ingress", "securityGroupId"...)
    direction: str
    protocol: str
    from_port: float | None
    to_port: float | None
    cidrs: tuple[str, ...]
    source_refs: tuple[str, ...]
    self_ref: bool
    description: str | None

    @property
    def world(self) -> bool:
        return any(c in WORLD for c in self.cidrs)

    def covers(self, port: int) -> bool:
        if self.protocol == "-1":
            return True
        if self.protocol not in ("tcp", "udp") or self.from_port is None or self.to_port is None:
            return False
        return self.from_port <= port <= self.to_port

    def is_exactly(self, port: float) -> bool:
        return self.protocol == "tcp" and self.from_port == port and self.to_port == port

    @property
    def ports(self) -> str:
        if self.protocol == "-1":
            return "all traffic"
        low, high = (int(p) if p is not None else "?" for p in (self.from_port, self.to_port))
        return f"{self.protocol}/{low}" if low == high else f"{self.protocol}/{low}-{high}"


def _protocol(value) -> str:
    text = str(value if value is not None else "").lower()
    if isinstance(value, float) and value == -1:
        text = "-1"
    return PROTOCOL_NAMES.get(text, text)


def _inline(sg: Resource, direction: str) -> list[Permission]:
    found = []
    for block in as_list(sg.props.get(direction)):
        cidrs = tuple(as_list(block.get("cidrBlocks"))) + tuple(as_list(block.get("ipv6CidrBlocks")))
        found.append(Permission(
            sg, direction, direction, _protocol(block.get("protocol")), number(block.get("fromPort")),
            number(block.get("toPort")), cidrs, tuple(as_list(block.get("securityGroups"))),
            is_true(block.get("self")), block.get("description")))
    return found


def _from_rule(rule: Resource) -> Permission:
    p = rule.props
    if rule.kind == "ec2:SecurityGroupRule":
        direction = p.get("type", "ingress")
        cidrs = tuple(as_list(p.get("cidrBlocks"))) + tuple(as_list(p.get("ipv6CidrBlocks")))
        sources = tuple(as_list(p.get("sourceSecurityGroupId")))
        protocol = p.get("protocol")
    else:
        direction = "ingress" if rule.kind.endswith("IngressRule") else "egress"
        cidrs = tuple(c for c in (p.get("cidrIpv4"), p.get("cidrIpv6")) if c)
        sources = tuple(as_list(p.get("referencedSecurityGroupId")))
        protocol = p.get("ipProtocol")
    return Permission(rule, "securityGroupId", direction, _protocol(protocol), number(p.get("fromPort")),
                      number(p.get("toPort")), cidrs, sources, is_true(p.get("self")), p.get("description"))


def permissions(stack: Stack) -> list[tuple[Permission, list[Resource]]]:
    """Every permission in the stack with the security groups it applies to."""
    found: list[tuple[Permission, list[Resource]]] = []
    for sg in stack.of(SG):
        found += [(perm, [sg]) for perm in _inline(sg, "ingress") + _inline(sg, "egress")]
    for rule in stack.of(*SG_RULE_KINDS):
        groups = stack.referenced(rule, "securityGroupId", rule.props.get("securityGroupId"), SG)
        found.append((_from_rule(rule), groups))
    return found


def groups_of(stack: Stack, owner: Resource, prop: str, refs) -> list[Resource]:
    """The security groups ``refs`` (found under ``owner.props[prop]``) name."""
    return stack.referenced(owner, prop, refs, SG)


def source_groups(stack: Stack, perm: Permission) -> list[Resource]:
    prop = perm.prop if perm.owner.kind == SG else "referencedSecurityGroupId"
    if perm.owner.kind == "ec2:SecurityGroupRule":
        prop = "sourceSecurityGroupId"
    return groups_of(stack, perm.owner, prop, list(perm.source_refs)) if perm.source_refs else []


def load_balancer_groups(stack: Stack, internet_facing_only: bool) -> list[Resource]:
    found = []
    for lb in stack.of("lb:LoadBalancer"):
        if internet_facing_only and is_true(lb.props.get("internal")):
            continue
        found += groups_of(stack, lb, "securityGroups", lb.props.get("securityGroups"))
    return found


def task_groups(stack: Stack) -> list[Resource]:
    found = []
    for service in stack.of("ecs:Service", "ecs:TaskSet"):
        refs = service.get("networkConfiguration", "securityGroups")
        found += groups_of(stack, service, "networkConfiguration", refs)
    return found


def has_https_listener(stack: Stack) -> bool:
    return any(str(lst.props.get("protocol", "")).upper() == "HTTPS" for lst in stack.of("lb:Listener"))


def redirects_to_https(listener: Resource) -> bool:
    """Whether the listener's one and only default action is a redirect to HTTPS."""
    actions = as_list(listener.props.get("defaultActions"))
    return (len(actions) == 1 and actions[0].get("type") == "redirect"
            and str((actions[0].get("redirect") or {}).get("protocol", "")).upper() == "HTTPS")


def has_redirect_listener(stack: Stack) -> bool:
    return any(redirects_to_https(lst) for lst in stack.of("lb:Listener")
               if str(lst.props.get("protocol", "HTTP")).upper() == "HTTP")


def public_subnets(stack: Stack) -> list[Resource]:
    """Subnets that map public IPs or route 0.0.0.0/0 to an internet gateway."""
    def to_internet(owner: Resource, route: dict, prop: str) -> bool:
        cidr = route.get("cidrBlock") or route.get("destinationCidrBlock")
        gateway = route.get("gatewayId")
        if cidr != "0.0.0.0/0" or not gateway:
            return False
        return str(gateway).startswith("igw-") or bool(stack.referenced(owner, prop, gateway, "ec2:InternetGateway"))

    public_tables = [t for t in stack.of("ec2:RouteTable") if any(to_internet(t, r, "routes")
                                                                  for r in as_list(t.props.get("routes")))]
    for route in stack.of("ec2:Route"):
        if to_internet(route, route.props, "gatewayId"):
            public_tables += stack.referenced(route, "routeTableId", route.props.get("routeTableId"), "ec2:RouteTable")
    found = [s for s in stack.of("ec2:Subnet") if is_true(s.props.get("mapPublicIpOnLaunch"))]
    for assoc in stack.of("ec2:RouteTableAssociation"):
        if any(stack.refers(assoc, "routeTableId", t) for t in public_tables):
            found += stack.referenced(assoc, "subnetId", assoc.props.get("subnetId"), "ec2:Subnet")
    return found


def public_subnets_named(stack: Stack, owner: Resource, prop: str, refs) -> list[Resource]:
    """The public subnets among ``refs`` (found under ``owner.props[prop]``)."""
    named = stack.referenced(owner, prop, refs, "ec2:Subnet")
    public = public_subnets(stack)
    return [s for s in named if s in public]


# --------------------------------------------------------------------------- rules


@stack_rule("NET-01", "Each VPC's default security group is adopted with no ingress and no egress rules",
            "FSBP EC2.2; CKV2_AWS_12", ALL, HIGH, ("ec2:Vpc", "ec2:DefaultSecurityGroup"))
def default_security_group_closed(stack: Stack, ctx: Context):
    for dsg in stack.of("ec2:DefaultSecurityGroup"):
        for direction in ("ingress", "egress"):
            if as_list(dsg.props.get(direction)):
                yield Finding(f"the default security group has {direction} rules; set {direction}=[]", dsg)
    for vpc in stack.of("ec2:Vpc"):
        if not stack.pointing_at(vpc, "vpcId", "ec2:DefaultSecurityGroup"):
            yield Finding("no ec2.DefaultSecurityGroup adopts this VPC's default security group "
                          "(its AWS default allows all traffic between members)", vpc)


@stack_rule("NET-02", "Every VPC has a flow log (trafficType ALL or REJECT)", "FSBP EC2.6; CKV2_AWS_11",
            PROD, MEDIUM, ("ec2:Vpc",))
def vpc_flow_logs(stack: Stack, ctx: Context):
    for vpc in stack.of("ec2:Vpc"):
        logs = [f for f in stack.pointing_at(vpc, "vpcId", "ec2:FlowLog")
                if str(f.props.get("trafficType", "")).upper() in ("ALL", "REJECT")]
        if not logs:
            yield Finding("no ec2.FlowLog with trafficType ALL or REJECT for this VPC", vpc)


@resource_rule("NET-03", "No subnet assigns public IPs on launch (mapPublicIpOnLaunch)",
               "FSBP EC2.15; CKV_AWS_130", ALL, MEDIUM, ("ec2:Subnet",))
def subnet_no_public_ip(subnet: Resource, ctx: Context):
    if is_true(subnet.props.get("mapPublicIpOnLaunch")):
        yield Finding("mapPublicIpOnLaunch is true; the load balancer and NAT gateway do not need it")


@stack_rule("NET-04", "No ingress from 0.0.0.0/0 or ::/0 except tcp/443 (and tcp/80 for the HTTPS redirect) "
            "on the internet-facing load balancer's security group",
            "FSBP EC2.18; CKV_AWS_277, CKV_AWS_260; PCP aws-ec2-securitygroup-disallow-public-internet-ingress "
            "(exception: ALB-PUBLIC-INGRESS)", ALL, HIGH, (SG, *SG_RULE_KINDS))
def no_public_ingress(stack: Stack, ctx: Context):
    alb_groups = load_balancer_groups(stack, internet_facing_only=True)
    for perm, groups in permissions(stack):
        if perm.direction != "ingress" or not perm.world or _high_risk(perm):
            continue  # world access to high-risk ports and all-traffic rules are NET-05's findings
        for sg in groups or [perm.owner]:
            if sg in alb_groups and perm.is_exactly(443):
                continue
            if sg in alb_groups and perm.is_exactly(80):
                if has_redirect_listener(stack):
                    continue
                if not ctx.https_required and not has_https_listener(stack):
                    yield Finding(f"{sg.name} admits the internet on tcp/80 to serve plain HTTP", perm.owner,
                                  exception="DEV-PLAIN-HTTP")
                    continue
            where = "the internet-facing load balancer's group" if sg in alb_groups else "a non-load-balancer group"
            yield Finding(f"{sg.name} admits {', '.join(c for c in perm.cidrs if c in WORLD)} on {perm.ports} "
                          f"({where})", perm.owner)


def _high_risk(perm: Permission) -> list[int]:
    return [p for p in HIGH_RISK_PORTS if perm.covers(p)]


@stack_rule("NET-05", "No high-risk port (22, 3389, 5432, 3306, 8080...) and no all-traffic rule is open to the "
            "internet", "FSBP EC2.19; CKV_AWS_24, CKV_AWS_25", ALL, CRITICAL, (SG, *SG_RULE_KINDS))
def no_high_risk_ports(stack: Stack, ctx: Context):
    for perm, groups in permissions(stack):
        ports = _high_risk(perm)
        if perm.direction == "ingress" and perm.world and ports:
            names = ", ".join(sg.name for sg in groups) or perm.owner.name
            yield Finding(f"{names} admits the internet on {perm.ports} (high-risk: {ports[:5]})", perm.owner)


@stack_rule("NET-06", "Tier isolation: tasks admit one port (the container port behind the load balancer) only "
            "from the load balancer's group; Postgres and Redis admit one port (theirs, when set) only from the task "
            "groups; no CIDR sources",
            "least privilege behind FSBP EC2.18/EC2.19", ALL, HIGH, (SG,))
def tier_isolation(stack: Stack, ctx: Context):
    lb_groups = load_balancer_groups(stack, internet_facing_only=False)
    tasks = task_groups(stack)
    tiers: dict[str, tuple[list[Resource], list[Resource], set[float]]] = {}
    for sg in tasks:
        tiers[sg.name] = ([sg], lb_groups, _app_ports(stack, sg))
    for db in stack.of("rds:Instance"):
        for sg in groups_of(stack, db, "vpcSecurityGroupIds", db.props.get("vpcSecurityGroupIds")):
            tiers[sg.name] = ([sg], tasks, {number(db.props.get("port"))} - {None})
    for cache in stack.of("elasticache:ReplicationGroup"):
        for sg in groups_of(stack, cache, "securityGroupIds", cache.props.get("securityGroupIds")):
            tiers[sg.name] = ([sg], tasks, {number(cache.props.get("port"))} - {None})
    for perm, groups in permissions(stack):
        if perm.direction != "ingress" or perm.world:
            continue  # internet sources are NET-04/NET-05's findings
        for sg in groups:
            if sg.name not in tiers:
                continue
            _, allowed_sources, ports = tiers[sg.name]
            problem = _tier_problem(stack, perm, allowed_sources, ports)
            if problem:
                yield Finding(f"{sg.name}: {problem}", perm.owner)


def _app_ports(stack: Stack, sg: Resource) -> set[float]:
    """The container ports the load balancer forwards to for services using this group."""
    ports: set[float] = set()
    for service in stack.of("ecs:Service"):
        if stack.refers(service, "networkConfiguration", sg):
            ports |= {number(lb.get("containerPort")) for lb in as_list(service.props.get("loadBalancers"))}
    return {p for p in ports if p is not None}


def _tier_problem(stack: Stack, perm: Permission, allowed: list[Resource], ports: set[float]) -> str | None:
    if perm.cidrs:
        return f"admits CIDR {', '.join(perm.cidrs)} on {perm.ports}; use a security-group source"
    if perm.self_ref:
        return f"admits itself on {perm.ports}"
    sources = source_groups(stack, perm)
    strangers = [s.name for s in sources if s not in allowed] or ([] if sources else ["an unknown group"])
    if strangers:
        return f"admits {', '.join(strangers)} on {perm.ports}; only {', '.join(a.name for a in allowed) or 'none'}"
    single = perm.protocol == "tcp" and perm.from_port is not None and perm.from_port == perm.to_port
    if not single or (ports and not any(perm.is_exactly(p) for p in ports)):
        wanted = ", ".join(f"tcp/{int(p)}" for p in sorted(ports)) or "one tcp port"
        return f"admits {perm.ports}; the tier needs only {wanted}"
    return None


@stack_rule("NET-07", "Every security group and every rule has a description",
            "CKV_AWS_23; PCP aws-ec2-securitygroup-missing-description, -missing-ingress-rule-description, "
            "-missing-egress-rule-description", ALL, LOW, (SG, *SG_RULE_KINDS))
def described(stack: Stack, ctx: Context):
    for sg in stack.of(SG):
        if not str(sg.props.get("description") or "").strip():
            yield Finding("the security group has no description", sg)
    for perm, _groups in permissions(stack):
        if not str(perm.description or "").strip():
            yield Finding(f"the {perm.direction} rule {perm.ports} has no description", perm.owner)


@stack_rule("NET-08", "A security group with inline ingress/egress is not also targeted by rule resources",
            "AWSGuard security-group-no-rule-management-conflicts", ALL, MEDIUM, (SG,))
def no_rule_conflicts(stack: Stack, ctx: Context):
    for sg in stack.of(SG):
        inline = [d for d in ("ingress", "egress") if d in sg.props]
        rules = stack.pointing_at(sg, "securityGroupId", *SG_RULE_KINDS)
        if inline and rules:
            yield Finding(f"inline {'/'.join(inline)} and rule resources ({', '.join(r.name for r in rules)}) "
                          "both manage this group; they overwrite each other", sg)


@stack_rule("NET-09", "Every security group is attached to a resource (no orphans)",
            "CKV2_AWS_5 (formerly FSBP EC2.22)", ALL, LOW, (SG,))
def no_orphan_groups(stack: Stack, ctx: Context):
    users = [r for r in stack.resources if r.kind not in (SG, *SG_RULE_KINDS)]
    for sg in stack.of(SG):
        if not any(stack.refers(user, prop, sg) for user in users for prop in user.props):
            yield Finding("no resource uses this security group", sg)


@stack_rule("NET-10", "Egress to the internet is tcp/443 only (no all-traffic egress to 0.0.0.0/0)",
            "CKV_AWS_382", OPT, LOW, (SG, *SG_RULE_KINDS))
def restricted_egress(stack: Stack, ctx: Context):
    endpoints = stack.of("ec2:VpcEndpoint")
    for perm, groups in permissions(stack):
        if perm.direction == "egress" and perm.world and not perm.is_exactly(443):
            names = ", ".join(sg.name for sg in groups) or perm.owner.name
            yield Finding(f"{names} allows {perm.ports} egress to the internet", perm.owner,
                          exception=None if endpoints else "FARGATE-EGRESS")


@stack_rule("NET-11", "VPC endpoints exist for ecr.api, ecr.dkr and S3 (ideally logs and secretsmanager too)",
            "FSBP EC2.55, EC2.56", OPT, LOW, ("ec2:Vpc",))
def vpc_endpoints(stack: Stack, ctx: Context):
    for vpc in stack.of("ec2:Vpc"):
        names = [str(e.props.get("serviceName", "")) for e in stack.pointing_at(vpc, "vpcId", "ec2:VpcEndpoint")]
        missing = [s for s in ("ecr.api", "ecr.dkr", "s3") if not any(n.endswith("." + s) for n in names)]
        if missing:
            yield Finding(f"no VPC endpoint for {', '.join(missing)}", vpc)
