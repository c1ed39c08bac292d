"""The Keel stack: wiring only. Each AWS concept lives in a component under keel/components.

Data flows one way: stack config -> components -> environment contract -> task definitions.
"""

import pulumi
from keel import outputs
from keel.components.network import Network, NetworkArgs
from keel.components.securitygroups import SecurityGroups, SecurityGroupsArgs
from keel.stack_config import stack_config_from_pulumi

cfg = stack_config_from_pulumi()
tags = {"project": cfg.project, "stack": cfg.stack}
prefix = cfg.name_prefix

network = Network("network", NetworkArgs(
    name=prefix, cidr=cfg.vpc_cidr, az_count=cfg.az_count, nat_per_az=cfg.nat_gateways == "perAz", tags=tags))
groups = SecurityGroups("sg", SecurityGroupsArgs(name=prefix, vpc_id=network.vpc_id, app_port=8000, tags=tags))

pulumi.export(outputs.STACK, cfg.stack)
pulumi.export(outputs.REGION, cfg.region)
pulumi.export(outputs.PRIVATE_SUBNET_IDS, network.private_subnet_ids)
pulumi.export(outputs.TASK_SECURITY_GROUP_ID, groups.tasks.id)
